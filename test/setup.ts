/** Preloaded by `bun test` (bunfig.toml): runs once around the whole run, all files included. */
import { afterAll } from 'bun:test';
import { removeTempDirs } from './helpers/temp';

// With its own limit: hooks keep bun's 5 s, and removing the run's dirs (skills trees of 20,000 files,
// 100k-row databases, built executables) took over 8 s once at load 5-7, which counted as a failed run.
afterAll(removeTempDirs, 120_000);

// A test's time limit only catches a hang, so it is generous: bun's 5 s cut off tests that take 1-2 s
// alone once a CI box is busy (200 concurrent streams took 7-11 s at load 10 on 2 cores). Tests that
// need longer still set their own. bunfig.toml cannot set it (bun 1.4 reads no `timeout` key there),
// and setDefaultTimeout here reaches only the first file of the run (bun 1.4.5: a 6 s test in the second
// file failed at 5 s), so every test file starts with the call, on its first line to keep line numbers
// (after a shebang, which must stay first: put before it, the file was a Syntax Error).
Bun.plugin({
  name: 'default-test-timeout',
  setup(build) {
    build.onLoad({ filter: /\.test\.ts$/ }, async ({ path }) => {
      const text = await Bun.file(path).text();
      const at = text.startsWith('#!') ? text.indexOf('\n') + 1 : 0;
      return { contents: `${text.slice(0, at)}import { setDefaultTimeout as setTestTimeout } from 'bun:test'; setTestTimeout(120_000); ${text.slice(at)}`, loader: 'ts' };
    });
  },
});

/** Preloaded by `bun test` (bunfig.toml): runs once around the whole run, all files included. */
import { afterAll, setDefaultTimeout } from 'bun:test';
import { removeTempDirs } from './helpers/temp';

afterAll(removeTempDirs);

// A test's time limit only catches a hang, so it is generous: bun's 5 s cut off tests that take 1-2 s
// alone once a CI box is busy (200 concurrent streams took 7-11 s at load 10 on 2 cores). Tests that
// need longer still set their own. bunfig.toml cannot set it (bun 1.4 reads no `timeout` key there).
setDefaultTimeout(120_000);

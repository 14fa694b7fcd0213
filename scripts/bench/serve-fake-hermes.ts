/**
 * The test suite's fake Hermes as a standalone process for benchmarks; prints `port <n>`.
 * FAKE_VERSION (0.12 | 0.17), FAKE_TOKEN_DELAY_MS (time between streamed tokens), FAKE_PORT (listen on
 * this port: a restart as the agent upgraded in place). Each line on stdin is a JSON object merged into
 * `behavior`, so a long run (scripts/bench/soak.ts) can make the one process fail, drop or stall.
 */
import { startFakeHermes } from '../../test/fakes/hermes';

const fake = await startFakeHermes({
  version: (process.env.FAKE_VERSION as '0.12' | '0.17') ?? '0.17',
  apiKey: 'bench-key',
  ...(process.env.FAKE_PORT && { port: Number(process.env.FAKE_PORT) }),
});
fake.behavior.tokenDelayMs = Number(process.env.FAKE_TOKEN_DELAY_MS ?? 0);
const base = { ...fake.behavior };
// The fake records every request for assertions; benchmarks do not need the history.
setInterval(() => {
  fake.requests.length = 0;
  fake.aborted.length = 0;
}, 1000);
process.stdout.write(`port ${fake.port}\n`);
process.on('SIGTERM', () => void fake.stop().then(() => process.exit(0)));

// Only a spawner that pipes stdin sends switches; a terminal or /dev/null just ends the loop.
(async () => {
  let rest = '';
  const decoder = new TextDecoder();
  for await (const chunk of Bun.stdin.stream()) {
    rest += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) fake.behavior = { ...base, ...(JSON.parse(line) as Partial<typeof base>) };
    }
  }
})();

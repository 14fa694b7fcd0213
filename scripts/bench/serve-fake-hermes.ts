/**
 * The test suite's fake Hermes as a standalone process for benchmarks; prints `port <n>`.
 * FAKE_VERSION (0.12 | 0.17), FAKE_TOKEN_DELAY_MS (time between streamed tokens).
 */
import { startFakeHermes } from '../../test/fakes/hermes';

const fake = await startFakeHermes({ version: (process.env.FAKE_VERSION as '0.12' | '0.17') ?? '0.17', apiKey: 'bench-key' });
fake.behavior.tokenDelayMs = Number(process.env.FAKE_TOKEN_DELAY_MS ?? 0);
// The fake records every request for assertions; benchmarks do not need the history.
setInterval(() => {
  fake.requests.length = 0;
  fake.aborted.length = 0;
}, 1000);
process.stdout.write(`port ${fake.port}\n`);
process.on('SIGTERM', () => void fake.stop().then(() => process.exit(0)));

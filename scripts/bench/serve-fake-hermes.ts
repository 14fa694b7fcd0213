/** The test suite's fake Hermes as a standalone process for benchmarks; prints `port <n>`. */
import { startFakeHermes } from '../../test/fakes/hermes';

const fake = await startFakeHermes({ version: (process.env.FAKE_VERSION as '0.12' | '0.17') ?? '0.17', apiKey: 'bench-key' });
// The fake records every request for assertions; benchmarks do not need the history.
setInterval(() => {
  fake.requests.length = 0;
  fake.aborted.length = 0;
}, 1000);
process.stdout.write(`port ${fake.port}\n`);
process.on('SIGTERM', () => void fake.stop().then(() => process.exit(0)));

/**
 * Records the bytecode layout profile the build uses (scripts/hermes-optx-api.order): builds the
 * executable, starts it the way a deployment does (an agent home with a config.yaml, an upstream that
 * is not there), waits for a healthy /health, stops it with SIGTERM (the profile is written on exit),
 * and keeps the profile. Run it again after large changes to what start-up does:
 *   bun run build:order
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, spawnWithPort, writeAgentConfig } from './bench/lib';

const PROFILE = join(ROOT, 'scripts/hermes-optx-api.order');
const dir = mkdtempSync(join(tmpdir(), 'optx-order-'));
try {
  const binary = join(dir, 'hermes-optx-api');
  const build = Bun.spawnSync(['bun', join(ROOT, 'scripts/build.ts'), '--outfile', binary], { stdout: 'inherit', stderr: 'inherit' });
  if (build.exitCode !== 0) throw new Error('build failed');
  const home = join(dir, 'home');
  mkdirSync(home);
  writeAgentConfig(home); // the same home the binary benchmark measures
  const recorded = join(dir, 'profile.order');
  const child = await spawnWithPort(
    [binary, '--host', '127.0.0.1', '--port', '0'],
    { HERMES_HOME: home, OPTX_DATA_DIR: join(dir, 'data'), HERMES_AGENT_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'warn', BUN_BYTECODE_ORDER_OUT: recorded },
    /listening on http:\/\/[^:]+:(\d+)/,
  );
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${child.port}/health`);
      if (res.status !== 200) throw new Error(`/health answered ${res.status}`);
      await Bun.sleep(200); // the first probe of the (absent) upstream runs meanwhile
    }
  } finally {
    await child.stop(); // SIGTERM: the profile is written as the executable exits
  }
  if (!existsSync(recorded)) throw new Error('the executable wrote no profile');
  copyFileSync(recorded, PROFILE);
  chmodSync(PROFILE, 0o644); // written private by the executable; it is a committed file
  console.log(`recorded ${PROFILE}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * GET /api/config right after config.yaml changed, on files whose maps have N keys that are aliases
 * (`*a1 : v`), of scalars and of maps: it must grow about linearly with N. Following each alias key
 * with the yaml package's own `resolve` walked the whole file per key (11 s at 1,600, 0.24 s before).
 *
 *   bun scripts/bench/config-alias-keys.ts [--max 1600]
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { closeDeps, openDeps } from '../../src/deps';
import { silentLogger } from '../../src/lib/log';
import { flag, fmt } from './lib';

const max = flag('max', 1600);
const dir = mkdtempSync(join(tmpdir(), 'bench-alias-keys-'));
const home = join(dir, 'home');
mkdirSync(home, { recursive: true });
const req = loadConfig({ argv: [], env: { HERMES_HOME: home, OPTX_DATA_DIR: join(dir, 'data'), HERMES_AGENT_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'silent' }, cwd: dir, home: dir });
if (req.kind !== 'run') throw new Error('unexpected CLI request');
const deps = await openDeps(req.config, { log: silentLogger });
const app = createApp(deps);
try {
  for (const [kind, anchored] of [['scalar', (i: number) => `key${i}`], ['map', (i: number) => `{k: key${i}}`]] as const) {
    for (let n = 200; n <= max; n *= 2) {
      let text = 'names:\n';
      for (let i = 0; i < n; i++) text += `  n${i}: &a${i} ${anchored(i)}\n`;
      text += 'map:\n';
      for (let i = 0; i < n; i++) text += `  *a${i} : v${i}\n`;
      // A new file (rename), so the read is not the kept one.
      writeFileSync(join(home, 'config.yaml.tmp'), text);
      renameSync(join(home, 'config.yaml.tmp'), join(home, 'config.yaml'));
      const t0 = performance.now();
      const res = await app.handle(new Request('http://localhost/api/config'));
      await res.text();
      console.log(`${kind} alias keys ${String(n).padStart(5)}: ${fmt(performance.now() - t0, 1)} ms (${res.status})`);
    }
  }
} finally {
  closeDeps(deps);
  rmSync(dir, { recursive: true, force: true });
}

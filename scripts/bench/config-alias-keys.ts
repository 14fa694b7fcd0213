/**
 * GET /api/config on a config.yaml with N secrets anchored under a secret name and repeated by an
 * alias as a map key (`notes: {*kN : {seen: *vN}}`), and N anchored plain values aliased as values: the
 * service read as the route does (parse, anchored values, redaction), then the redaction alone on the
 * parsed file. Each figure is the median of --rounds reads; it should grow about linearly in N (each
 * alias key was resolved by a walk of the whole document: 800 keys took 6 s, 1,600 took 29 s).
 *
 *   bun scripts/bench/config-alias-keys.ts [--rounds 5] [--sizes 200,400,800,1600,5000]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HermesHome } from '../../src/hermes/home';
import { silentLogger } from '../../src/lib/log';
import { redactConfig } from '../../src/modules/config/redact';
import { ConfigService } from '../../src/modules/config/service';
import { flag, fmt, median, report } from './lib';

const rounds = flag('rounds', 5);
const at = process.argv.indexOf('--sizes');
const sizes = (at > 0 ? (process.argv[at + 1] ?? '') : '200,400,800,1600,5000').split(',').map(Number);

function aliasKeyConfig(n: number): string {
  const lines = ['model: {default: gpt-4o}', 'providers:'];
  for (let i = 0; i < n; i++) lines.push(`  p${i}: {api_key: &k${i} sk-live-${i}-0123456789, name: &v${i} model-${i}}`);
  lines.push('notes:');
  for (let i = 0; i < n; i++) lines.push(`  *k${i} : {seen: *v${i}}`);
  return `${lines.join('\n')}\n`;
}

const home = mkdtempSync(join(tmpdir(), 'bench-alias-keys-'));
try {
  console.log(`median of ${rounds}`);
  for (const n of sizes) {
    const text = aliasKeyConfig(n);
    const read: number[] = [];
    const redact: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // A new file and a new home each round: the read parses it, as the first GET after a change does.
      writeFileSync(join(home, 'config.yaml'), `${text}# ${r}\n`);
      const h = new HermesHome(home);
      const t0 = performance.now();
      const shown = JSON.stringify(new ConfigService(h, silentLogger).read());
      read.push(performance.now() - t0);
      if (shown.includes('sk-live-')) throw new Error('a secret key was shown');
      const { tree, anchored, sharedKeys } = h.readConfigAnchored();
      const t1 = performance.now();
      redactConfig(tree, anchored, sharedKeys);
      redact.push(performance.now() - t1);
    }
    const value = `read ${fmt(median(read), 1)} ms, redaction ${fmt(median(redact), 1)} ms`;
    console.log(`${String(n).padStart(5)} alias keys: ${value}`);
    report({ area: 'config', metric: `GET /api/config, ${n} alias keys`, value });
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}

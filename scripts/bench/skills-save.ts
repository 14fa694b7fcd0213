/**
 * Saving the skills index (src/modules/skills/saved.ts) at several tree sizes: how long the save
 * holds the event loop at a stretch (the largest gap between the ticks of a 1 ms timer running meanwhile,
 * which is what a concurrent request or SSE stream waits) and how long the whole save takes. Beside
 * each stall, the same probe's longest gap over as long a sleep: on a busy box both include the time
 * other processes held the cores. Synthetic
 * records of ~500 bytes as saved (test/helpers/skill-records.ts); the file is written to a temp dir.
 *
 *   bun scripts/bench/skills-save.ts [--sizes 2000,10000,50000] [--runs 3]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../../src/lib/log';
import { SavedIndex, SKILLS_INDEX_FILE } from '../../src/modules/skills/saved';
import { skillRecords } from '../../test/helpers/skill-records';
import { loopStall, report } from './lib';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '2000,10000,50000' }, runs: { type: 'string', default: '3' } } });
const sizes = values.sizes.split(',').map(Number);
const runs = Number(values.runs);

const dir = mkdtempSync(join(tmpdir(), 'optx-bench-skills-save-'));
try {
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${navigator.hardwareConcurrency} cores`);
  for (const n of sizes) {
    const recs = skillRecords(n);
    // Every size saves the same roots' file, replacing the last size's.
    const saved = new SavedIndex(join(dir, SKILLS_INDEX_FILE), silentLogger);
    const results: { gap: number; took: number }[] = [];
    const idle: number[] = [];
    for (let r = 0; r < runs; r++) {
      saved.schedule('bench-roots', recs);
      const res = await loopStall(() => saved.save());
      results.push(res);
      // The same probe for as long with nothing to do: what the box itself adds (other processes on the cores).
      idle.push((await loopStall(() => Bun.sleep(res.took))).gap);
    }
    const kb = statSync(saved.pathFor('bench-roots')).size / 1024;
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(' / ');
    const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const gap = mid(results.map((x) => x.gap));
    console.log(`${n} skills (${kb.toFixed(0)} KB): longest stall ${fmt(results.map((x) => x.gap))} ms (idle probe ${fmt(idle)} ms), whole save ${fmt(results.map((x) => x.took))} ms`);
    report({
      area: 'skills',
      metric: `save the index of ${n} skills: longest event-loop stall while it is written, median of ${runs} (idle probe ${mid(idle).toFixed(1)} ms; whole save ${mid(results.map((x) => x.took)).toFixed(0)} ms)`,
      value: `${gap.toFixed(1)} ms`,
      // No issue names a figure for this: it is reported against the idle probe beside it, not a target.
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * `bun run bench`: runs every benchmark, prints one table and writes docs/benchmarks.md.
 * Each benchmark is also runnable alone (`bun scripts/bench/<name>.ts`) with flags for bigger runs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, fmt } from './lib';
import { runProxyBench } from './proxy';
import { runBinaryBench } from './binary';

interface Row {
  area: string;
  metric: string;
  value: string;
  target: string;
  ok: boolean | null;
}

const rows: Row[] = [];
const add = (area: string, metric: string, value: string, target = '', ok: boolean | null = null) => rows.push({ area, metric, value, target, ok });

const proxy = await runProxyBench({ requests: 2000, seconds: 3, rounds: 3, concurrency: 50 });
add('proxy', 'median latency direct / raw passthrough / sidecar', `${fmt(proxy.directMs, 3)} / ${fmt(proxy.rawMs, 3)} / ${fmt(proxy.sidecarMs, 3)} ms`);
add('proxy', 'added latency (sidecar − direct)', `${fmt(proxy.addedMs, 3)} ms`, '≤ 0.3 ms', proxy.addedMs <= 0.3);
add('proxy', 'throughput @50 direct / raw / sidecar', `${fmt(proxy.directRps, 0)} / ${fmt(proxy.rawRps, 0)} / ${fmt(proxy.sidecarRps, 0)} req/s`);
add('proxy', 'sidecar throughput / raw passthrough', `${fmt(proxy.ratioToRaw * 100, 1)} %`, '≥ 80 %', proxy.ratioToRaw >= 0.8);

const bin = await runBinaryBench(5);
add('binary', 'start → first healthy /health', `${fmt(bin.startMs, 1)} ms`, '< 200 ms', bin.startMs < 200);
add('binary', 'idle RSS', `${fmt(bin.idleRssMb, 1)} MB`, '< 60 MB', bin.idleRssMb < 60);
add('binary', 'size', `${fmt(bin.sizeMb, 1)} MB`);

const mark = (ok: boolean | null) => (ok === null ? '' : ok ? 'yes' : 'NO');
const table = [
  '| area | metric | value | target | met |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.area} | ${r.metric} | ${r.value} | ${r.target} | ${mark(r.ok)} |`),
].join('\n');
console.log(table);
const when = new Date().toISOString();
writeFileSync(join(ROOT, 'docs/benchmarks.md'), `# Benchmarks\n\nMeasured ${when} on the CI machine class (2 cores), by \`bun run bench\`. Medians of several runs; the machine is shared and noisy, so ratios against a baseline measured in the same run matter more than absolute times.\n\n${table}\n`);

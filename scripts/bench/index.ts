/**
 * `bun run bench`: builds the executable, runs every benchmark as its own process (one after the
 * other, so they do not disturb each other), prints one table and writes docs/benchmarks.md with the
 * table and each benchmark's full output. Each benchmark also runs alone: `bun scripts/bench/<name>.ts`.
 *   bun run bench [--quick]     (--quick: smaller sizes, for a smoke run)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT, type BenchRow } from './lib';

const quick = process.argv.includes('--quick');
const BENCHES: { name: string; args: string[] }[] = [
  { name: 'proxy', args: quick ? ['--requests', '500', '--seconds', '1', '--rounds', '1'] : [] },
  { name: 'binary', args: quick ? ['--runs', '2'] : [] },
  { name: 'load', args: quick ? ['--seconds', '2'] : [] },
  { name: 'chat', args: quick ? ['--samples', '50', '--streams', '200'] : [] },
  { name: 'memory', args: ['--sizes', quick ? '1000' : '1000,10000,100000'] },
  { name: 'loop-stalls', args: quick ? ['--size', '10000', '--runs', '3'] : ['--runs', '3'] },
  { name: 'agent-stores', args: quick ? ['--sizes', '10000', '--sessions', '2000'] : [] },
  { name: 'tasks', args: [] },
  { name: 'ledgers', args: quick ? ['--sessions', '1000', '--escrows', '10000', '--calls', '10000'] : [] },
  { name: 'skills', args: [] },
  { name: 'skills-save', args: quick ? ['--sizes', '2000', '--runs', '2'] : [] },
  { name: 'config-edit', args: [] },
  { name: 'config-alias-keys', args: quick ? ['--sizes', '200,800'] : [] },
  { name: 'wallet', args: quick ? ['--requests', '2000', '--escrows', '1000'] : [] },
  { name: 'spacetime', args: [] },
];

const build = Bun.spawnSync(['bun', 'run', 'build'], { cwd: ROOT, stdout: 'ignore', stderr: 'inherit' });
if (build.exitCode !== 0) throw new Error('build failed');

const rows: BenchRow[] = [];
const sections: string[] = [];
for (const b of BENCHES) {
  const started = performance.now();
  console.error(`== ${b.name} ${b.args.join(' ')}`);
  const proc = Bun.spawn(['bun', join(ROOT, 'scripts/bench', `${b.name}.ts`), ...b.args], { cwd: ROOT, stdout: 'pipe', stderr: 'inherit' });
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  const lines = out.split('\n');
  for (const l of lines) if (l.startsWith('BENCH_ROW ')) rows.push(JSON.parse(l.slice('BENCH_ROW '.length)) as BenchRow);
  if (code !== 0) rows.push({ area: b.name, metric: 'benchmark run', value: `failed (exit ${code})`, ok: false });
  const human = lines.filter((l) => !l.startsWith('BENCH_ROW ')).join('\n').trim();
  sections.push(`### ${b.name} (\`bun scripts/bench/${b.name}.ts ${b.args.join(' ')}\`, ${((performance.now() - started) / 1000).toFixed(0)} s)\n\n\`\`\`\n${human}\n\`\`\``);
}

const mark = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? 'yes' : '**no**');
const table = [
  '| area | metric | value | target | met |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.area} | ${r.metric} | ${r.value} | ${r.target ?? ''} | ${mark(r.ok)} |`),
].join('\n');
console.log(table);
const header = `# Benchmarks

Measured ${new Date().toISOString()} by \`bun run bench${quick ? ' --quick' : ''}\` on the project's machine class (2 cores; load average
${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end). Every benchmark runs alone in its own process; figures are medians of
several runs or rounds, and where a baseline can be measured in the same run (the upstream directly, a bare Bun.serve
proxy) the comparison is against it. Client, server and fakes share the same two cores, so absolute times include
their contention. The machine is a shared VM: the same benchmark has moved by up to 2x between runs on the same day
(the direct-upstream baseline below moves with it), so read a single miss against the baselines of its own row.
`;
// The soak (scripts/bench/soak.ts) is not run here (it takes 15+ minutes): its section, last in the
// file, is carried over as written.
const doc = join(ROOT, 'docs/benchmarks.md');
const previous = existsSync(doc) ? readFileSync(doc, 'utf8') : '';
const soakAt = previous.indexOf('\n## Soak');
const soak = soakAt >= 0 ? previous.slice(soakAt) : '';
writeFileSync(doc, `${header}\n## Summary\n\n${table}\n\n## Full output\n\n${sections.join('\n\n')}\n${soak}`);
console.error('wrote docs/benchmarks.md');

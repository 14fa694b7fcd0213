/**
 * Throughput and latency of the SpacetimeDB client against the fake server on this machine:
 * reducer calls (store_memory upserts), a keyed SQL read, and a full-table read with decoding.
 * It measures our client + HTTP + the fake, not a real SpacetimeDB.
 *
 *   bun scripts/bench/spacetime.ts [--calls 2000] [--rows 5000] [--concurrency 8]
 */
import { report } from './lib';
import { parseArgs } from 'node:util';
import { SpacetimeClient } from '../../src/spacetime/client';
import { literal } from '../../src/spacetime/sql';
import { startFakeSpacetime } from '../../test/fakes/spacetimedb';

const { values } = parseArgs({
  options: { calls: { type: 'string', default: '2000' }, rows: { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '8' } },
});
const calls = Number(values.calls);
const rows = Number(values.rows);
const concurrency = Number(values.concurrency);

async function measure(name: string, n: number, op: (i: number) => Promise<unknown>): Promise<void> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t = performance.now();
        await op(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const total = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0).toFixed(2);
  console.log(`${name.padEnd(34)} ${n.toString().padStart(6)} ops  ${(n / total).toFixed(0).padStart(6)} ops/s  p50 ${pct(0.5)} ms  p99 ${pct(0.99)} ms`);
  report({ area: 'spacetimedb', metric: `${name} (client + fake)`, value: `${(n / total).toFixed(0)} ops/s, p50 ${pct(0.5)} ms` });
}

const fake = startFakeSpacetime();
const client = new SpacetimeClient({ url: fake.url, db: fake.db, token: null, timeoutMs: 10_000 });
console.log(`SpacetimeDB client vs fake: concurrency ${concurrency}, ${rows} rows`);
try {
  await measure('store_memory (insert)', rows, (i) => client.call('store_memory', ['general', `mem:${i}`, JSON.stringify({ content: `memory ${i}` }), 'bench', 'astrojoe', i % 11, '']));
  await measure('store_memory (upsert existing key)', calls, (i) => client.call('store_memory', ['general', `mem:${i % rows}`, '{"content":"updated"}', 'bench', 'astrojoe', 5, '']));
  await measure('SELECT … WHERE key = literal', calls, (i) => client.sql(`SELECT * FROM memory_entry WHERE key = ${literal(`mem:${i % rows}`)}`));
  await measure(`SELECT * (all ${rows} rows, decoded)`, Math.max(1, Math.floor(calls / 100)), () => client.sql('SELECT * FROM memory_entry'));
} finally {
  await fake.stop();
}

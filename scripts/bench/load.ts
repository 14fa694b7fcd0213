/**
 * Load: mixed reads against the compiled binary for a fixed time at a fixed concurrency, from a
 * client process on the same 2-core machine. Reports the sustained rate, errors and latency.
 *   bun scripts/bench/load.ts [--seconds 10] [--concurrency 64]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flag, fmt, percentile, ROOT, spawnWithPort } from './lib';

export interface LoadResult {
  seconds: number;
  requests: number;
  rps: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

const READS = [
  '/health',
  '/api/gateway-status',
  '/api/memory?limit=10',
  '/api/memory/stats',
  '/api/tasks?limit=10',
  '/api/tasks/stats',
  '/api/skills',
  '/api/config',
  '/api/sessions?limit=10',
  '/api/wallet',
];

async function seed(base: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    await fetch(`${base}/api/memory`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: `seed memory ${i} about load testing`, category: 'load' }) });
    await fetch(`${base}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: `seed task ${i}`, description: 'load' }) });
  }
}

export async function runLoadBench(seconds = 10, concurrency = 64): Promise<LoadResult> {
  const bin = join(ROOT, 'dist/hermes-optx-api');
  const home = mkdtempSync(join(tmpdir(), 'optx-load-'));
  const server = await spawnWithPort([bin, '--host', '127.0.0.1', '--port', '0'], {
    HERMES_HOME: home, HERMES_AGENT_URL: 'http://127.0.0.1:9', MEMORY_BACKEND: 'sqlite', LOG_LEVEL: 'warn',
  }, /listening on http:\/\/[^:]+:(\d+)/);
  const base = `http://127.0.0.1:${server.port}`;
  try {
    await seed(base);
    const lat: number[] = [];
    let errors = 0;
    let i = 0;
    const end = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const path = READS[i++ % READS.length] as string;
        const t0 = performance.now();
        try {
          const res = await fetch(base + path);
          await res.arrayBuffer();
          if (res.status !== 200) errors++;
        } catch {
          errors++;
        }
        lat.push(performance.now() - t0);
      }
    }));
    return { seconds, requests: lat.length, rps: lat.length / seconds, errors, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) };
  } finally {
    await server.stop();
  }
}

if (import.meta.main) {
  const r = await runLoadBench(flag('seconds', 10), flag('concurrency', 64));
  console.log(`load: mixed reads (${READS.length} routes), ${r.seconds} s`);
  console.log(`  ${r.requests} requests, ${fmt(r.rps, 0)} req/s sustained, ${r.errors} errors, p50 ${fmt(r.p50Ms)} ms, p99 ${fmt(r.p99Ms)} ms   target 10,000 req/s, 0 errors`);
}

/**
 * /v1/chat/completions three ways against the same fake upstream (a separate process):
 * directly, through a raw 20-line Bun.serve passthrough, and through the sidecar.
 * Reports median latency (sequential) and throughput at concurrency 50; ratios, medians of rounds.
 *   bun scripts/bench/proxy.ts [--requests 2000] [--seconds 3] [--rounds 3] [--concurrency 50]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flag, fmt, median, report, spawnWithPort, type Child } from './lib';

export interface ProxyResult {
  directMs: number;
  rawMs: number;
  sidecarMs: number;
  addedMs: number;
  rawAddedMs: number;
  directRps: number;
  rawRps: number;
  sidecarRps: number;
  ratioToRaw: number;
}

const BODY = JSON.stringify({ model: 'hermes-agent', messages: [{ role: 'user', content: 'hello there' }] });

async function call(base: string): Promise<void> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer bench-key' },
    body: BODY,
  });
  if (res.status !== 200) throw new Error(`${base} answered ${res.status}`);
  await res.arrayBuffer();
}

async function sequential(base: string, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call(base);
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function throughput(base: string, seconds: number, concurrency: number): Promise<number> {
  let done = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await call(base);
      done++;
    }
  }));
  return done / seconds;
}

export async function runProxyBench(opts = { requests: 2000, seconds: 3, rounds: 3, concurrency: 50 }): Promise<ProxyResult> {
  const children: Child[] = [];
  let home: string | null = null;
  try {
    const upstream = await spawnWithPort(['bun', 'scripts/bench/serve-fake-hermes.ts'], {}, /port (\d+)/);
    children.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
    const raw = await spawnWithPort(['bun', 'scripts/bench/raw-passthrough.ts'], { UPSTREAM_URL: upstreamUrl }, /port (\d+)/);
    children.push(raw);
    home = mkdtempSync(join(tmpdir(), 'optx-bench-'));
    const sidecar = await spawnWithPort(['bun', 'src/main.ts', '--host', '127.0.0.1', '--port', '0'], {
      HERMES_AGENT_URL: upstreamUrl, HERMES_API_KEY: 'bench-key', HERMES_HOME: home, LOG_LEVEL: 'info', LOG_FORMAT: 'json',
    }, /listening on http:\/\/[^:]+:(\d+)/);
    children.push(sidecar);
    const targets = {
      direct: `http://127.0.0.1:${upstream.port}`,
      raw: `http://127.0.0.1:${raw.port}`,
      sidecar: `http://127.0.0.1:${sidecar.port}`,
    };
    for (const base of Object.values(targets)) await sequential(base, 300); // warm-up (JIT, sockets)
    const lat: Record<keyof typeof targets, number[]> = { direct: [], raw: [], sidecar: [] };
    const rps: Record<keyof typeof targets, number[]> = { direct: [], raw: [], sidecar: [] };
    for (let r = 0; r < opts.rounds; r++) {
      for (const [name, base] of Object.entries(targets) as [keyof typeof targets, string][]) {
        lat[name].push(await sequential(base, opts.requests));
        rps[name].push(await throughput(base, opts.seconds, opts.concurrency));
      }
    }
    const m = (xs: number[]) => median(xs);
    return {
      directMs: m(lat.direct),
      rawMs: m(lat.raw),
      sidecarMs: m(lat.sidecar),
      addedMs: m(lat.sidecar) - m(lat.direct),
      rawAddedMs: m(lat.raw) - m(lat.direct),
      directRps: m(rps.direct),
      rawRps: m(rps.raw),
      sidecarRps: m(rps.sidecar),
      ratioToRaw: m(rps.sidecar) / m(rps.raw),
    };
  } finally {
    for (const c of children.reverse()) await c.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const r = await runProxyBench({
    requests: flag('requests', 2000), seconds: flag('seconds', 3), rounds: flag('rounds', 3), concurrency: flag('concurrency', 50),
  });
  console.log('proxy: /v1/chat/completions (non-streaming), medians of rounds');
  console.log(`  sequential median latency  direct ${fmt(r.directMs, 3)} ms | raw passthrough ${fmt(r.rawMs, 3)} ms | sidecar ${fmt(r.sidecarMs, 3)} ms`);
  console.log(`  added by sidecar           ${fmt(r.addedMs, 3)} ms (raw passthrough adds ${fmt(r.rawAddedMs, 3)} ms)   target ≤ 0.3 ms`);
  console.log(`  throughput @50             direct ${fmt(r.directRps, 0)}/s | raw ${fmt(r.rawRps, 0)}/s | sidecar ${fmt(r.sidecarRps, 0)}/s`);
  console.log(`  sidecar / raw throughput   ${fmt(r.ratioToRaw * 100, 1)} %   target ≥ 80 %`);
  report({ area: 'proxy', metric: 'median latency direct / raw passthrough / sidecar', value: `${fmt(r.directMs, 3)} / ${fmt(r.rawMs, 3)} / ${fmt(r.sidecarMs, 3)} ms` });
  report({ area: 'proxy', metric: 'added latency (sidecar − direct), sequential', value: `${fmt(r.addedMs, 3)} ms`, target: '≤ 0.3 ms', ok: r.addedMs <= 0.3 });
  report({ area: 'proxy', metric: 'throughput at concurrency 50, direct / raw / sidecar', value: `${fmt(r.directRps, 0)} / ${fmt(r.rawRps, 0)} / ${fmt(r.sidecarRps, 0)} req/s` });
  report({ area: 'proxy', metric: 'sidecar throughput / raw Bun.serve passthrough', value: `${fmt(r.ratioToRaw * 100, 1)} %`, target: '≥ 80 %', ok: r.ratioToRaw >= 0.8 });
}

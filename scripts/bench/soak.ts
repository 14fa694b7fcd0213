/**
 * Soak of the built binary (dist/, `bun run build` first) against a fake Hermes in its own process, looking
 * for what grows with the number of operations: RSS, descriptors, threads, sockets to the upstream, the
 * databases' WAL files. Not part of `bun run bench` (it is long). Docs: docs/benchmarks.md, "Soak".
 *
 *   bun scripts/bench/soak.ts --minutes 15 --backend holographic [--rate 20] [--streams 3] [--quiet 60]
 *
 * Mixed requests at `--rate` a second (scripts/bench/soak-traffic.ts) and `--streams` chat or /v1 streams
 * at once, while the upstream cycles through 30 s phases: normal, 500s, normal, dropped mid-stream,
 * stalled past UPSTREAM_IDLE_TIMEOUT_S (2 s), down for 8 s and back as the other Hermes version on the
 * same port (so the chat turns alternate between the native session stream and the fallback). A sample
 * every 10 s; after the traffic, `--quiet` seconds of nothing and a last sample. Prints the samples as
 * JSON lines, then a table of start / end / max / after the quiet period per metric, and the outcomes.
 */
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, writeAgentConfig } from './lib';
import { type Traffic, oneStream, randomOp } from './soak-traffic';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '15' },
    backend: { type: 'string', default: 'holographic' },
    rate: { type: 'string', default: '20' },
    streams: { type: 'string', default: '3' },
    quiet: { type: 'string', default: '60' },
    binary: { type: 'string', default: join(ROOT, 'dist/hermes-optx-api') },
    keep: { type: 'boolean', default: false },
  },
});
const MINUTES = Number(args.minutes);
const RATE = Number(args.rate);
const QUIET_S = Number(args.quiet);
const KEY = 'soak-api-key';
const PHASE_S = 30;
const PHASES: { name: string; behavior?: Record<string, unknown> }[] = [
  { name: 'normal', behavior: {} },
  { name: 'fail500', behavior: { statusOverride: { '/api/sessions/*/chat/stream': 500, '/v1/chat/completions': 500, '/v1/models': 500 } } },
  { name: 'normal', behavior: {} },
  { name: 'drop', behavior: { dropAfterTokens: 5 } },
  { name: 'stall', behavior: { stallAfterTokens: 5 } },
  { name: 'down' },
];

const home = mkdtempSync(join(tmpdir(), 'optx-soak-'));
writeAgentConfig(home);
const dataDir = join(home, 'optx-api');

type Fake = { proc: Bun.Subprocess<'pipe', 'pipe', 'ignore'>; port: number };
async function startFake(version: '0.12' | '0.17', port?: number): Promise<Fake> {
  const proc = Bun.spawn(['bun', join(ROOT, 'scripts/bench/serve-fake-hermes.ts')], {
    env: { ...process.env, FAKE_VERSION: version, FAKE_TOKEN_DELAY_MS: '15', ...(port && { FAKE_PORT: String(port) }) },
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'ignore',
  });
  const m = /port (\d+)/.exec(await readUntil(proc.stdout, /port \d+\n/));
  if (!m) throw new Error('the fake did not start');
  return { proc, port: Number(m[1]) };
}

async function readUntil(stream: ReadableStream<Uint8Array>, re: RegExp): Promise<string> {
  const reader = stream.getReader();
  let out = '';
  while (!re.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  // Keep draining, so the child never blocks on a full pipe.
  void stream.pipeTo(new WritableStream());
  return out;
}

let version: '0.12' | '0.17' = '0.17';
let fake = await startFake(version);
const logPath = join(home, 'sidecar.log');
const sidecar = Bun.spawn([args.binary, '--host', '127.0.0.1', '--port', '0'], {
  env: {
    PATH: process.env.PATH ?? '',
    HERMES_HOME: home,
    HERMES_AGENT_URL: `http://127.0.0.1:${fake.port}`,
    HERMES_API_KEY: 'bench-key',
    API_KEY: KEY,
    MEMORY_BACKEND: args.backend,
    UPSTREAM_IDLE_TIMEOUT_S: '2',
    UPSTREAM_TIMEOUT_S: '10',
    PROBE_INTERVAL_S: '5',
    LOG_LEVEL: 'warn',
  },
  stdout: 'pipe',
  stderr: Bun.file(logPath),
});
const url = /listening on (http:\/\/\S+)/.exec(await readUntil(sidecar.stdout, /listening on http:\/\/\S+/))?.[1];
if (!url) throw new Error(`the sidecar did not start; see ${logPath}`);
const pid = sidecar.pid;

// ---- sampling ---------------------------------------------------------------------------------

type Sample = Record<string, number | string>;
const size = (p: string) => {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
};
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

function sample(label: string): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  const kinds: Record<string, number> = { socket: 0, pipe: 0, anon: 0, db: 0, file: 0 };
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed between the listing and the read
    }
    const kind = target.startsWith('socket:') ? 'socket' : target.startsWith('pipe:') ? 'pipe' : target.startsWith('anon_inode:') ? 'anon' : /\.db(-wal|-shm)?$/.test(target) ? 'db' : 'file';
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  const ss = Bun.spawnSync(['ss', '-Htn', 'dst', `127.0.0.1:${fake.port}`]).stdout.toString().trim();
  const states: Record<string, number> = {};
  for (const line of ss ? ss.split('\n') : []) states[line.split(/\s+/)[0] as string] = (states[line.split(/\s+/)[0] as string] ?? 0) + 1;
  const dataBytes = readdirSync(dataDir).reduce((n, f) => n + size(join(dataDir, f)), 0);
  return {
    t: label,
    rss_mb: mb(kb('VmRSS') * 1024),
    anon_mb: mb(kb('RssAnon') * 1024),
    threads: kb('Threads'),
    fds: Object.values(kinds).reduce((a, b) => a + b, 0),
    fd_sockets: kinds.socket ?? 0,
    fd_db: kinds.db ?? 0,
    fd_other: (kinds.pipe ?? 0) + (kinds.anon ?? 0) + (kinds.file ?? 0),
    up_estab: states.ESTAB ?? 0,
    up_closewait: states['CLOSE-WAIT'] ?? 0,
    up_all: ss ? ss.split('\n').length : 0,
    data_dir_mb: mb(dataBytes),
    sidecar_wal_mb: mb(size(join(dataDir, 'optx-api.db-wal'))),
    memory_wal_mb: mb(size(join(home, 'memory_store.db-wal'))),
    memory_db_mb: mb(size(join(home, 'memory_store.db'))),
    log_lines: readFileSync(logPath, 'utf8').split('\n').length - 1,
  };
}

// ---- traffic ----------------------------------------------------------------------------------

const traffic: Traffic = { base: url, key: KEY, counts: new Map() };
const samples: Sample[] = [];
const t0 = performance.now();
const elapsed = () => Math.round((performance.now() - t0) / 1000);
const endAt = t0 + MINUTES * 60_000;
let running = true;
let inflight = 0;

const pump = setInterval(() => {
  if (inflight >= 8) return;
  inflight++;
  void randomOp()(traffic).finally(() => inflight--);
}, 1000 / RATE);

const streamers = Array.from({ length: Number(args.streams) }, async () => {
  while (running) {
    await oneStream(traffic);
    // A failing upstream answers at once: the pause keeps the failing phases at about the usual rate.
    await Bun.sleep(200);
  }
});

const phases = (async () => {
  for (let i = 0; running; i++) {
    const phase = PHASES[i % PHASES.length] as (typeof PHASES)[number];
    if (phase.behavior) fake.proc.stdin.write(`${JSON.stringify(phase.behavior)}\n`);
    else {
      fake.proc.kill('SIGKILL');
      await fake.proc.exited;
      await Bun.sleep(8_000);
      version = version === '0.17' ? '0.12' : '0.17';
      fake = await startFake(version, fake.port);
    }
    const until = performance.now() + PHASE_S * 1000;
    while (running && performance.now() < until) await Bun.sleep(250);
  }
})();

samples.push(sample('0'));
console.log(JSON.stringify(samples[0]));
while (performance.now() < endAt) {
  await Bun.sleep(Math.min(10_000, endAt - performance.now()));
  const s = sample(String(elapsed()));
  samples.push(s);
  console.log(JSON.stringify({ ...s, ops: [...traffic.counts.values()].reduce((a, b) => a + b, 0) }));
}
running = false;
clearInterval(pump);
await Promise.all([...streamers, phases]);
const loadEnd = samples.at(-1) as Sample;
await Bun.sleep(QUIET_S * 1000);
const quiet = sample(`${elapsed()} (quiet)`);
console.log(JSON.stringify(quiet));

// ---- summary ----------------------------------------------------------------------------------

const load = await Bun.file('/proc/loadavg').text();
const ops = [...traffic.counts].sort(([a], [b]) => a.localeCompare(b));
console.log(`\nsoak: backend ${args.backend}, ${MINUTES} min at ${RATE} req/s + ${args.streams} streams, ${ops.reduce((n, [, c]) => n + c, 0)} operations; load average ${load.split(' ').slice(0, 3).join(' ')}`);
console.log('| metric | start | end of load | max | after quiet |\n|---|---|---|---|---|');
for (const k of Object.keys(samples[0] as Sample).filter((k) => k !== 't')) {
  const xs = samples.map((s) => Number(s[k]));
  console.log(`| ${k} | ${xs[0]} | ${loadEnd[k]} | ${Math.max(...xs, Number(quiet[k]))} | ${quiet[k]} |`);
}
console.log('\noutcomes:', ops.map(([k, c]) => `${k}: ${c}`).join(', '));

sidecar.kill('SIGTERM');
await sidecar.exited;
fake.proc.kill('SIGTERM');
await fake.proc.exited;
if (!args.keep) rmSync(home, { recursive: true, force: true });
else console.log(`kept ${home}`);

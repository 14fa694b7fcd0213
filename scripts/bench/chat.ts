/**
 * Chat streaming benchmark: the sidecar runs as a real listening server (`bun src/main.ts`, its own
 * process) in front of the fake Hermes (in this process).
 *
 * 1. Time to first token: the first `content` event through the sidecar vs the first token straight
 *    from the upstream (native `assistant.delta` on Hermes 0.17, the first content chunk of
 *    `/v1/chat/completions` on 0.12), one request at a time, alternating; the added median is the
 *    difference of the medians. The fake spaces its tokens (`--gap-ms`, default 20) as a model does:
 *    with no gap at all the whole answer arrives in one TCP chunk and Bun writes everything the
 *    sidecar makes of that chunk at once, so the number would be the time to relay the whole answer.
 * 2. Open streams: N streams (default 1000) held open at once through the sidecar with slow tokens;
 *    peak RSS of the sidecar process, errors, and every text checked.
 *
 * Bun's fetch sends at most 256 requests at once unless BUN_CONFIG_MAX_HTTP_REQUESTS (read at process
 * start only) says otherwise; the sidecar needs it raised to hold more than 256 upstream streams (see
 * docs/sessions-chat.md), and so does this client, which re-runs itself with it set.
 *
 *   bun scripts/bench/chat.ts [--part all|ttfb|streams] [--samples 250] [--gap-ms 20] [--streams 1000] [--token-ms 250] [--tokens 16]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeHermes, type FakeHermes, type HermesVersion } from '../../test/fakes/hermes';
import { parseSse } from '../../src/lib/sse';
import { report, spawnWithPort } from './lib';

const MAX_HTTP_REQUESTS = '4096';
if (process.env.BUN_CONFIG_MAX_HTTP_REQUESTS !== MAX_HTTP_REQUESTS) {
  const again = Bun.spawn(['bun', ...process.argv.slice(1)], { env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP_REQUESTS }, stdio: ['inherit', 'inherit', 'inherit'] });
  process.exit(await again.exited);
}

const args = new Map<string, string>();
// Flags come in pairs: --name value.
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i] ?? '', process.argv[i + 1] ?? '');
const SAMPLES = Number(args.get('--samples') ?? 250);
const GAP_MS = Number(args.get('--gap-ms') ?? 20);
const STREAMS = Number(args.get('--streams') ?? 1000);
const TOKEN_MS = Number(args.get('--token-ms') ?? 250);
const TOKENS = Number(args.get('--tokens') ?? 16);
const PART = args.get('--part') ?? 'all';
const KEY = 'bench-upstream-key';
/** The key of the standalone fake (scripts/bench/serve-fake-hermes.ts). */
const FAKE_KEY = 'bench-key';

interface Sidecar {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function startSidecar(upstream: string, key = KEY): Promise<Sidecar> {
  const dir = mkdtempSync(join(tmpdir(), 'optx-bench-'));
  const proc = Bun.spawn(['bun', join(import.meta.dir, '../../src/main.ts')], {
    env: {
      ...process.env, HERMES_AGENT_URL: upstream, HERMES_API_KEY: key, HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data'),
      OPTX_API_HOST: '127.0.0.1', OPTX_API_PORT: '0', LOG_LEVEL: 'warn', SSE_HEARTBEAT_S: '15', BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP_REQUESTS,
    },
    stdout: 'pipe',
    stderr: 'inherit',
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = '';
  let url = '';
  while (!url.includes('mode:') && !/upstream mode: \S+/.test(out)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`sidecar exited: ${out}`);
    out += new TextDecoder().decode(value);
    url = /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? '';
    if (url && /upstream mode: \S+/.test(out)) break;
  }
  void (async () => {
    while (!(await reader.read()).done);
  })();
  return {
    url, pid: proc.pid,
    async stop() {
      proc.kill('SIGTERM');
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function* chunks(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}

/** ms from sending the request to the first frame for which `isToken` holds; the rest is drained. */
async function timeToFirstToken(url: string, init: RequestInit, isToken: (event: string, data: string) => boolean): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, init);
  if (!res.ok || !res.body) throw new Error(`${url} answered ${res.status}`);
  let first = NaN;
  for await (const f of parseSse(chunks(res.body))) {
    if (Number.isNaN(first) && isToken(f.event, f.data)) first = performance.now() - t0;
  }
  if (Number.isNaN(first)) throw new Error(`${url}: no token`);
  return first;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;
const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/**
 * A bare pass-through proxy (Bun.serve + fetch, nothing else) in its own process: what one more HTTP
 * hop costs on this machine, to read the sidecar's figure against.
 */
async function startBareProxy(upstream: string): Promise<Sidecar> {
  const src = `const s = Bun.serve({ port: 0, hostname: '127.0.0.1', async fetch(req) {
    const u = new URL(req.url);
    const r = await fetch(${JSON.stringify(upstream)} + u.pathname, { method: req.method, headers: req.headers, body: await req.text() });
    return new Response(r.body, { status: r.status, headers: { 'content-type': 'text/event-stream' } });
  } }); console.log(s.port);`;
  const proc = Bun.spawn(['bun', '-e', src], { stdout: 'pipe', env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP_REQUESTS } });
  const port = new TextDecoder().decode((await (proc.stdout as ReadableStream<Uint8Array>).getReader().read()).value).trim();
  return { url: `http://127.0.0.1:${port}`, pid: proc.pid, stop: async () => { proc.kill(); await proc.exited; } };
}

async function ttfb(version: HermesVersion): Promise<void> {
  // The agent in a process of its own, as in a deployment: "direct" then crosses a process boundary
  // as the sidecar's client does, instead of a loopback inside the benchmark's own event loop.
  const fake = await spawnWithPort(['bun', 'scripts/bench/serve-fake-hermes.ts'], { FAKE_VERSION: version, FAKE_TOKEN_DELAY_MS: String(GAP_MS) }, /port (\d+)/);
  const fakeUrl = `http://127.0.0.1:${fake.port}`;
  const sidecar = await startSidecar(fakeUrl, FAKE_KEY);
  const bare = await startBareProxy(fakeUrl);
  try {
    const auth = { authorization: `Bearer ${FAKE_KEY}`, 'content-type': 'application/json' };
    const hello = JSON.stringify({ message: 'hello there' });
    // The gateway answers `{object: "hermes.session", session: {id, …}}`.
    const newUpstreamSession = async () => ((await (await fetch(`${fakeUrl}/api/sessions`, { method: 'POST', headers: auth, body: '{}' })).json()) as { session: { id: string } }).session.id;
    // The same upstream request straight, or through the bare proxy (a fresh session every time).
    const upstreamTurn = async (base: string) => version === '0.17'
      ? timeToFirstToken(`${base}/api/sessions/${await newUpstreamSession()}/chat/stream`, { method: 'POST', headers: auth, body: hello }, (e) => e === 'assistant.delta')
      : timeToFirstToken(`${base}/v1/chat/completions`, {
        method: 'POST', headers: auth, body: JSON.stringify({ model: 'hermes-agent', stream: true, messages: [{ role: 'user', content: 'hello there' }] }),
      }, (_e, d) => d.includes('"content"'));
    const ways = {
      direct: () => upstreamTurn(fakeUrl),
      bare: () => upstreamTurn(bare.url),
      sidecar: async () => {
        const created = await (await fetch(`${sidecar.url}/api/sessions`, json({}))).json() as { session: { id: string } };
        return timeToFirstToken(`${sidecar.url}/api/sessions/${created.session.id}/chat/stream`, json({ message: 'hello there' }), (e) => e === 'content');
      },
    };
    const names = Object.keys(ways) as (keyof typeof ways)[];
    const times: Record<keyof typeof ways, number[]> = { direct: [], bare: [], sidecar: [] };
    for (let i = 0; i < SAMPLES + 30; i++) {
      // Rotate the order so no way always runs first (or last) in a round.
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length] as keyof typeof ways;
        const ms = await ways[name]();
        if (i >= 30) times[name].push(ms); // the first 30 rounds warm up
      }
    }
    const m = (name: keyof typeof ways) => `${median(times[name]).toFixed(3)} ms (p90 ${pct(times[name], 0.9).toFixed(3)})`;
    const path = version === '0.17' ? 'native session stream (0.17)' : 'chat-completions fallback (0.12)';
    console.log(`TTFB ${path}, ${SAMPLES} samples, tokens ${GAP_MS} ms apart: direct ${m('direct')}, through the sidecar ${m('sidecar')} `
      + `→ added median ${(median(times.sidecar) - median(times.direct)).toFixed(3)} ms; a bare pass-through proxy adds ${(median(times.bare) - median(times.direct)).toFixed(3)} ms`);
    const added = median(times.sidecar) - median(times.direct);
    const bareAdded = median(times.bare) - median(times.direct);
    report({ area: 'chat', metric: `time to first content, ${path}: added by the sidecar (a bare proxy hop adds ${bareAdded.toFixed(2)} ms)`, value: `${added.toFixed(2)} ms`, target: '< 1 ms', ok: added < 1 });
  } finally {
    await bare.stop();
    await sidecar.stop();
    await fake.stop();
  }
}

async function openStreams(): Promise<void> {
  const fake: FakeHermes = await startFakeHermes({ version: '0.17', apiKey: KEY });
  fake.behavior.tokenDelayMs = TOKEN_MS;
  fake.behavior.reply = (messages) => `${'tok '.repeat(TOKENS - 1)}${String(messages.at(-1)?.content ?? '')}`;
  const sidecar = await startSidecar(fake.url);
  try {
    const idle = rssMb(sidecar.pid);
    const ids: string[] = [];
    for (let i = 0; i < STREAMS; i++) ids.push(((await (await fetch(`${sidecar.url}/api/sessions`, json({}))).json()) as { session: { id: string } }).session.id);
    let peak = rssMb(sidecar.pid);
    let open = 0;
    let maxOpen = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(sidecar.pid));
    }, 50);
    const t0 = performance.now();
    const results = await Promise.all(ids.map(async (id, i) => {
      try {
        const res = await fetch(`${sidecar.url}/api/sessions/${id}/chat/stream`, json({ message: `m${i}` }));
        let text = '';
        let last = '';
        let counted = false;
        for await (const f of parseSse(chunks(res.body as ReadableStream<Uint8Array>))) {
          if (!counted) {
            counted = true;
            maxOpen = Math.max(maxOpen, ++open);
          }
          last = f.event;
          if (f.event === 'content') text += (JSON.parse(f.data) as { content: string }).content;
        }
        open--;
        return last === 'done' && text === `${'tok '.repeat(TOKENS - 1)}m${i}`;
      } catch {
        return false;
      }
    }));
    clearInterval(sampler);
    const errors = results.filter((ok) => !ok).length;
    console.log(`${STREAMS} concurrent streams (${TOKENS} tokens, ${TOKEN_MS} ms apart): ${maxOpen} open at once, ${errors} errors/wrong texts, `
      + `${((performance.now() - t0) / 1000).toFixed(1)} s; sidecar RSS idle ${idle.toFixed(1)} MB, peak ${peak.toFixed(1)} MB`);
    report({ area: 'chat', metric: `${STREAMS} concurrent streams: peak RSS, errors`, value: `${peak.toFixed(0)} MB, ${errors} errors (${maxOpen} open at once)`, target: '< 200 MB, 0 errors', ok: peak < 200 && errors === 0 && maxOpen === STREAMS });
  } finally {
    await sidecar.stop();
    await fake.stop();
  }
}

if (PART !== 'streams') {
  await ttfb('0.17');
  await ttfb('0.12');
}
if (PART !== 'ttfb') await openStreams();

/**
 * What a `fetch()` call costs before the request reaches the server, and why the call can take long to
 * return (docs/sessions-chat.md, "Why Bun's fetch() call seemed slow"). A server in its own process
 * answers with the moment it got the request; each variant of the sidecar's upstream request is timed,
 * alternating, after the idle gap a chat turn sees between tokens. For the bare call it also tells calls
 * during which the calling thread was switched out (per-thread getrusage through bun:ffi; Linux only)
 * from the rest: those return late while their request arrives no later, since the thread that took
 * the core was Bun's HTTP thread sending it.
 *
 *   bun scripts/bench/fetch-call.ts [--rounds 250] [--idle-ms 20]
 */
import { dlopen, FFIType, ptr } from 'bun:ffi';
import { median, spawnWithPort } from './lib';

const args = new Map<string, string>();
// Flags come in pairs: --name value.
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i] ?? '', process.argv[i + 1] ?? '');
const ROUNDS = Number(args.get('--rounds') ?? 250);
const IDLE_MS = Number(args.get('--idle-ms') ?? 20);

const RUSAGE_THREAD = 1;
const libc = dlopen('libc.so.6', { getrusage: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } });
const usage = new BigInt64Array(18);
const usagePtr = ptr(usage);
/** Context switches of the calling thread so far (struct rusage: ru_nvcsw and ru_nivcsw are its 17th and 18th words). */
function switches(): number {
  libc.symbols.getrusage(RUSAGE_THREAD, usagePtr);
  return Number(usage[16]) + Number(usage[17]);
}

const server = await spawnWithPort(['bun', '-e', `const s = Bun.serve({ port: 0, hostname: '127.0.0.1', async fetch(req) {
  const at = performance.timeOrigin + performance.now(); await req.text(); return new Response(String(at)); } });
  console.log('port ' + s.port);`], {}, /port (\d+)/);
const url = `http://127.0.0.1:${server.port}/v1/chat/completions`;
const body = JSON.stringify({ model: 'hermes-agent', messages: [{ role: 'user', content: 'hello there' }], stream: true });
const headers = { 'content-type': 'application/json', accept: 'text/event-stream', authorization: 'Bearer bench-key' };
const init = (extra: RequestInit = {}): RequestInit => ({ method: 'POST', body, headers, ...extra });
// Stand-ins for the client's request signal and the server's stop, which the sidecar listens to per call.
const clientSignal = new AbortController().signal;
const shutdown = new AbortController().signal;

/** Each variant returns the fetch promise; what it arms is disarmed once the answer came. */
const variants: Record<string, () => Promise<Response>> = {
  bare: () => fetch(url, init()),
  'a signal': () => fetch(url, init({ signal: new AbortController().signal })),
  'a signal and a timer': () => {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 30_000);
    return fetch(url, init({ signal: ac.signal })).finally(() => clearTimeout(timer));
  },
  'a signal, two listeners': () => {
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    clientSignal.addEventListener('abort', onAbort, { once: true });
    shutdown.addEventListener('abort', onAbort, { once: true });
    return fetch(url, init({ signal: ac.signal })).finally(() => {
      clientSignal.removeEventListener('abort', onAbort);
      shutdown.removeEventListener('abort', onAbort);
    });
  },
  'a Headers object': () => {
    const h = new Headers({ 'content-type': 'application/json', accept: 'text/event-stream' });
    h.delete('authorization');
    h.set('authorization', 'Bearer bench-key');
    return fetch(url, init({ headers: h }));
  },
  'AbortSignal.any': () => fetch(url, init({ signal: AbortSignal.any([clientSignal, shutdown, AbortSignal.timeout(30_000)]) })),
  'a Request object': () => fetch(new Request(url, init())),
  localhost: () => fetch(url.replace('127.0.0.1', 'localhost'), init()),
  'a Blob body': () => fetch(url, init({ body: new Blob([body]) })),
};

const names = Object.keys(variants);
const returned = new Map<string, number[]>(names.map((n) => [n, []]));
const arrived = new Map<string, number[]>(names.map((n) => [n, []]));
const bareBy = { quiet: { returned: [] as number[], arrived: [] as number[] }, switched: { returned: [] as number[], arrived: [] as number[] } };
try {
  for (let i = 0; i < ROUNDS + 20; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length] ?? 'bare';
      await Bun.sleep(IDLE_MS);
      const before = switches();
      const t0 = performance.timeOrigin + performance.now();
      const pending = (variants[name] as () => Promise<Response>)();
      const t1 = performance.timeOrigin + performance.now();
      const switched = switches() > before;
      const at = Number(await (await pending).text());
      if (i < 20) continue; // warm-up
      returned.get(name)?.push((t1 - t0) * 1000);
      arrived.get(name)?.push((at - t0) * 1000);
      if (name === 'bare') {
        const bucket = switched ? bareBy.switched : bareBy.quiet;
        bucket.returned.push((t1 - t0) * 1000);
        bucket.arrived.push((at - t0) * 1000);
      }
    }
  }
} finally {
  await server.stop();
}

const bareArrived = median(arrived.get('bare') ?? []);
console.log(`fetch() calls, ${ROUNDS} rounds, ${IDLE_MS} ms idle before each (medians, µs from the call):`);
for (const n of names) {
  const a = median(arrived.get(n) ?? []);
  console.log(`  ${n.padEnd(24)} returns ${median(returned.get(n) ?? []).toFixed(0).padStart(4)}, the server has it at ${a.toFixed(0).padStart(4)} (${n === 'bare' ? 'the base' : `${Math.round(a - bareArrived) >= 0 ? '+' : ''}${Math.round(a - bareArrived)}`})`);
}
for (const [how, b] of Object.entries(bareBy)) {
  console.log(`  bare, calling thread ${how === 'quiet' ? 'not switched out' : 'switched out'}: ${b.returned.length} calls, returns ${median(b.returned).toFixed(0)}, the server has it at ${median(b.arrived).toFixed(0)}`);
}

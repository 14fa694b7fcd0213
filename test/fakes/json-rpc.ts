/**
 * The JSON-RPC 2.0 server under the fake Solana, EVM and Tempo nodes: a real Bun.serve on port 0
 * that answers single calls and batches, records every HTTP request (so a test can count round
 * trips), and has switches to fail, hang, send garbage, or hold every request until a promise
 * settles — e.g. until all the requests a client should send in parallel have arrived, which proves
 * they were in flight at once without any timing.
 */

export interface JsonRpcCall {
  jsonrpc: '2.0';
  id: number | string | null;
  method: string;
  params?: unknown;
}

/** Thrown by a method handler to answer a JSON-RPC error object. */
export class RpcError extends Error {
  constructor(readonly code: number, message: string, readonly data?: unknown) {
    super(message);
  }
}

export type MethodHandler = (params: unknown[], call: JsonRpcCall) => unknown | Promise<unknown>;

export interface RecordedRpcRequest {
  /** The calls of one HTTP request, in order (one for a single call, several for a batch). */
  calls: JsonRpcCall[];
  batch: boolean;
  headers: Record<string, string>;
}

export interface FakeRpcBehavior {
  /** Never answer until the client goes away. */
  hang: boolean;
  /** Answer every HTTP request with this status and an HTML page (or a JSON-RPC error, see httpBody). */
  httpStatus: number | null;
  /** The body of an httpStatus answer: a proxy's HTML page, or the JSON-RPC error a rate-limiting node sends with its 429. */
  httpBody: 'html' | 'json';
  /** Answer 200 with a body that is not JSON. */
  garbage: boolean;
  /** Method name → JSON-RPC error object answered for that method (providers send some without a code). */
  errors: Record<string, { code?: number; message: string; data?: unknown }>;
  /** Hold each HTTP request until this settles (a request whose client gives up first is dropped). */
  holdUntil: Promise<unknown> | null;
  /** Answer every HTTP request this many ms late (a network round trip, for benchmarks). */
  delayMs: number;
  /** Methods whose calls take effect but whose answer is lost: the HTTP request gets a 502 page. */
  answerLost: string[];
}

export interface FakeRpcServer {
  readonly url: string;
  requests: RecordedRpcRequest[];
  behavior: FakeRpcBehavior;
  /** Every method called, in arrival order, across all requests. */
  methods(): string[];
  /** Resolves once `count` HTTP requests have arrived in total. */
  waitForRequests(count: number): Promise<void>;
  reset(): void;
  stop(): Promise<void>;
}

export function defaultRpcBehavior(): FakeRpcBehavior {
  return { hang: false, httpStatus: null, httpBody: 'html', garbage: false, errors: {}, holdUntil: null, delayMs: 0, answerLost: [] };
}

export function startJsonRpcServer(handlers: Record<string, MethodHandler>): FakeRpcServer {
  const parked = new Set<() => void>();
  const waiters: { count: number; resolve: () => void }[] = [];

  const fake: FakeRpcServer = {
    url: '',
    requests: [],
    behavior: defaultRpcBehavior(),
    methods: () => fake.requests.flatMap((r) => r.calls.map((c) => c.method)),
    waitForRequests(count) {
      if (fake.requests.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    reset() {
      fake.requests.length = 0;
      fake.behavior = defaultRpcBehavior();
    },
    async stop() {
      for (const release of parked) release();
      await server.stop(true);
    },
  };

  const park = (req: Request) =>
    new Promise<Response>((resolve) => {
      const release = () => {
        parked.delete(release);
        resolve(new Response('released', { status: 503 }));
      };
      parked.add(release);
      req.signal.addEventListener('abort', release, { once: true });
    });

  /** Waits for `holdUntil`; false when the client went away first. */
  const held = (req: Request, hold: Promise<unknown>) =>
    new Promise<boolean>((resolve) => {
      hold.then(() => resolve(true), () => resolve(true));
      req.signal.addEventListener('abort', () => resolve(false), { once: true });
    });

  async function answer(call: JsonRpcCall): Promise<Record<string, unknown>> {
    const base = { jsonrpc: '2.0', id: call.id };
    const forced = fake.behavior.errors[call.method];
    if (forced) return { ...base, error: forced };
    const handler = handlers[call.method];
    if (!handler) return { ...base, error: { code: -32601, message: `the method ${call.method} does not exist/is not available` } };
    try {
      const params = Array.isArray(call.params) ? call.params : call.params === undefined ? [] : [call.params];
      return { ...base, result: await handler(params, call) };
    } catch (err) {
      if (err instanceof RpcError) return { ...base, error: { code: err.code, message: err.message, ...(err.data !== undefined ? { data: err.data } : {}) } };
      return { ...base, error: { code: -32603, message: err instanceof Error ? err.message : String(err) } };
    }
  }

  const server = Bun.serve({
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const text = await req.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return Response.json({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      }
      const batch = Array.isArray(body);
      const calls = (batch ? body : [body]) as JsonRpcCall[];
      fake.requests.push({ calls, batch, headers: Object.fromEntries(req.headers) });
      for (const w of waiters.filter((x) => fake.requests.length >= x.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      const hold = fake.behavior.holdUntil;
      if (hold && !(await held(req, hold))) return new Response('gone', { status: 499 });
      if (fake.behavior.delayMs > 0) await Bun.sleep(fake.behavior.delayMs);
      if (fake.behavior.hang) return park(req);
      const status = fake.behavior.httpStatus;
      if (status && fake.behavior.httpBody === 'json') return Response.json({ jsonrpc: '2.0', id: calls[0]?.id ?? null, error: { code: status, message: 'Too many requests for a specific RPC call' } }, { status });
      if (status) return new Response('<html><body>upstream error</body></html>', { status, headers: { 'content-type': 'text/html' } });
      if (fake.behavior.garbage) return new Response('{"jsonrpc":"2.0","result":', { headers: { 'content-type': 'application/json' } });
      const answers = [];
      for (const c of calls) answers.push(await answer(c));
      if (calls.some((c) => fake.behavior.answerLost.includes(c.method))) return new Response('<html><body>bad gateway</body></html>', { status: 502, headers: { 'content-type': 'text/html' } });
      return new Response(stringifyWithBigInts(batch ? answers : answers[0]), { headers: { 'content-type': 'application/json' } });
    },
  });
  (fake as { url: string }).url = `http://127.0.0.1:${server.port}`;
  return fake;
}

/** JSON with bigints written as plain integers, as a node writes u64 values wider than a double. */
export function stringifyWithBigInts(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `__bigint__${v}` : v)).replace(/"__bigint__(-?\d+)"/g, '$1');
}

/**
 * A fake SpacetimeDB host for tests: a real HTTP server on Bun.serve({ port: 0 }) speaking the wire
 * format of SpacetimeDB's HTTP API (`POST /v1/database/:db/sql`, `POST /v1/database/:db/call/:reducer`,
 * `GET /v1/ping`), with one database that holds the `optx-cortex` module by default. SQL reads run for
 * real over in-memory tables; reducers run as serialised, all-or-nothing transactions. Tests can add
 * tables and reducers, and flip `behavior` to make it hang, fail or answer garbage; `pause()` takes
 * it off the network and `resume()` brings it back on the same port.
 */
import { deleteMemory, memoryEntryTable, storeMemory } from './spacetimedb-cortex';
import { ArgsError, FakeTable, ReducerFailure, decodeArgs, runReducer, type FakeReducer, type TableOptions } from './spacetimedb-db';
import { executeSql } from './spacetimedb-query';
import { SqlError } from './spacetimedb-sql';
import type { Column } from './spacetimedb-types';
import type { RecordedRequest } from './hermes';

export { FakeTable, ReducerFailure, type FakeReducer, type ReducerContext, type RowObject, type TableOptions } from './spacetimedb-db';
export type { Column, ColumnType, ScalarType } from './spacetimedb-types';
/** Same shape as the Hermes fake's: method, path, query string (`search`), headers, body. */
export type { RecordedRequest } from './hermes';

export interface FakeSpacetimeBehavior {
  /** Never answer any request (until the client gives up). */
  hang: boolean;
  /** Wait this long before handling each request, so concurrent calls overlap on the wire. */
  delayMs: number;
  /** This reducer fails with `failMessage` (530) before touching any table. */
  failReducer: string | null;
  failMessage: string;
  /** Path (exact) → HTTP status, answered with a short text body. */
  statusOverride: Record<string, number>;
  /** When set, /sql answers 200 with exactly this body (for malformed-payload tests). */
  sqlBody: string | null;
}

export interface FakeSpacetimeOptions {
  /** Database name (default `optx-cortex`). */
  db?: string;
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  token?: string | null;
  /** Install the optx-cortex table and reducers (default true). */
  cortex?: boolean;
}

export interface FakeSpacetime {
  readonly url: string;
  readonly port: number;
  readonly db: string;
  /** Hex identity of the database; accepted in URLs like the name. */
  readonly identity: string;
  readonly token: string | null;
  readonly tables: Map<string, FakeTable>;
  readonly reducers: Map<string, FakeReducer>;
  readonly requests: RecordedRequest[];
  readonly behavior: FakeSpacetimeBehavior;
  defineTable(name: string, columns: Column[], options?: TableOptions): FakeTable;
  defineReducer(name: string, reducer: FakeReducer): void;
  /** Stop listening: connections are refused until resume(). */
  pause(): Promise<void>;
  resume(): void;
  stop(): Promise<void>;
}

const text = (status: number, body: string) => new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });

export function startFakeSpacetime(opts: FakeSpacetimeOptions = {}): FakeSpacetime {
  const db = opts.db ?? 'optx-cortex';
  const token = opts.token ?? null;
  const identity = new Bun.CryptoHasher('sha256').update(db).digest('hex');
  const tables = new Map<string, FakeTable>();
  const reducers = new Map<string, FakeReducer>();
  const requests: RecordedRequest[] = [];
  const behavior: FakeSpacetimeBehavior = { hang: false, delayMs: 0, failReducer: null, failMessage: 'fake reducer failure', statusOverride: {}, sqlBody: null };

  if (opts.cortex !== false) {
    tables.set('memory_entry', memoryEntryTable());
    reducers.set('store_memory', storeMemory);
    reducers.set('delete_memory', deleteMemory);
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const body = await req.text();
    requests.push({ method: req.method, path: url.pathname, search: url.search, headers: Object.fromEntries(req.headers), body });
    if (behavior.hang) {
      await new Promise((resolve) => req.signal.addEventListener('abort', resolve, { once: true }));
      return text(499, 'client went away');
    }
    if (behavior.delayMs > 0) await Bun.sleep(behavior.delayMs);
    const forced = behavior.statusOverride[url.pathname];
    if (forced !== undefined) return text(forced, `forced status ${forced}`);

    // SpacetimeAuthHeader: an Authorization header that is not a valid token is refused.
    const auth = req.headers.get('authorization');
    if (token !== null && auth !== `Bearer ${token}`) return text(401, auth ? 'Authorization is invalid: token not recognised' : 'Authorization required');
    const sender = auth?.startsWith('Bearer ') ? auth.slice(7) : null;

    if (url.pathname === '/v1/ping' && req.method === 'GET') return new Response(null, { status: 200 });
    const m = /^\/v1\/database\/([^/]+)\/(sql|call\/([^/]+))$/.exec(url.pathname);
    if (!m || req.method !== 'POST') return text(404, 'Not Found');
    const name = decodeURIComponent(m[1] as string);
    if (name !== db && name !== identity) return text(404, /^[0-9a-f]{64}$/.test(name) ? 'No such database.' : `database name \`${name}\` not found`);

    if (m[2] === 'sql') {
      if (behavior.sqlBody !== null) return new Response(behavior.sqlBody, { headers: { 'content-type': 'application/json' } });
      try {
        return Response.json([executeSql(tables, body)]);
      } catch (err) {
        if (err instanceof SqlError) return text(400, err.message);
        throw err;
      }
    }
    return callReducer(decodeURIComponent(m[3] as string), req.headers.get('content-type'), body, sender);
  }

  function callReducer(name: string, contentType: string | null, body: string, sender: string | null): Response {
    if (contentType !== 'application/json') return text(415, 'Expected request with `Content-Type: application/json`');
    const reducer = reducers.get(name);
    if (!reducer) return text(404, `No such reducer or procedure \`${name}\``);
    let raw: unknown;
    try {
      raw = JSON.parse(body);
    } catch {
      return text(400, `invalid arguments for reducer ${name}: the body is not JSON`);
    }
    try {
      const args = decodeArgs(name, reducer, raw);
      if (behavior.failReducer === name) throw new ReducerFailure(behavior.failMessage);
      runReducer(tables, reducer, args, sender);
      return new Response(null, { status: 200 });
    } catch (err) {
      if (err instanceof ArgsError) return text(400, err.message);
      if (err instanceof ReducerFailure) return text(530, err.message);
      throw err;
    }
  }

  const serve = (port: number) => Bun.serve({ port, hostname: '127.0.0.1', fetch: handle, idleTimeout: 0 });
  let server: ReturnType<typeof serve> | null = serve(0);
  const port = server.port as number;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    db,
    identity,
    token,
    tables,
    reducers,
    requests,
    behavior,
    defineTable(tableName, columns, options) {
      const table = new FakeTable(tableName, columns, options);
      tables.set(tableName, table);
      return table;
    },
    defineReducer(reducerName, reducer) {
      reducers.set(reducerName, reducer);
    },
    async pause() {
      await server?.stop(true);
      server = null;
    },
    resume() {
      server ??= serve(port);
    },
    async stop() {
      await server?.stop(true);
      server = null;
    },
  };
}

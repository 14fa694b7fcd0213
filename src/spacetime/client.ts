/**
 * The one client of SpacetimeDB's HTTP API, shared by the memory and task backends:
 * `POST /v1/database/:db/sql` for reads, `POST /v1/database/:db/call/:reducer` for writes,
 * `GET /v1/ping` for health. Every call has a deadline covering the whole exchange, every payload is
 * parsed with zod, and every failure is a classified SpacetimeError. The token is only ever put in
 * the Authorization header: never in a message, a log line or an error.
 */
import { fetchJson, hostOf, neverSent, OutboundError, type JsonResult } from '../lib/http';
import { silentLogger, type Logger } from '../lib/log';
import { logRepeated } from '../lib/log-repeats';
import { decodeRow } from './decode';
import { SpacetimeError, type SpacetimeErrorKind } from './errors';
import { SqlResponseWire, type SqlStmtResult } from './model';

export interface SpacetimeClientOptions {
  /** Base URL of the SpacetimeDB host, e.g. http://host:3000 (MEMORY_DB_URL). */
  url: string;
  /** Database name or hex identity (SPACETIMEDB_DB). */
  db: string;
  token: string | null;
  timeoutMs: number;
  /** Where losing and regaining the host is told (default: nowhere). */
  log?: Logger;
}

export interface SqlOptions {
  /**
   * Ask the server to answer only once the state read is durable on disk (`?confirmed=true`). As
   * that state includes every reducer call that had already returned, a confirmed read after a
   * write is how to know the write survives a crash of the SpacetimeDB host.
   */
  confirmed?: boolean;
}

export type PingResult = { ok: true; latencyMs: number } | { ok: false; error: SpacetimeError };

type Operation = 'sql' | 'call' | 'ping';

const TARGET = 'SpacetimeDB';
/** `SELECT *` of a large memory or task table is one answer: room for ~500,000 rows, and a bound all the same. */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;
/**
 * Failures that say the host cannot be used (not that one request was wrong): every memory or task
 * request then answers 503, and only the log tells the operator why.
 */
const HOST_FAILURES: ReadonlySet<SpacetimeErrorKind> = new Set<SpacetimeErrorKind>(['unreachable', 'connection_lost', 'timeout', 'not_found', 'unauthorized', 'redirected', 'server_error', 'bad_response']);

export class SpacetimeClient {
  readonly url: string;
  readonly db: string;
  private readonly token: string | null;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  /** A host failure was logged and no exchange has succeeded since. */
  private failing = false;

  constructor(opts: SpacetimeClientOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.db = opts.db;
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs;
    this.log = opts.log ?? silentLogger;
  }

  /**
   * Runs one SQL statement and returns its rows as objects keyed by column name. Option values are
   * unwrapped to the value or null; see decode.ts for the other SATS shapes. SpacetimeDB runs a
   * single statement per request, so exactly one statement result is expected.
   */
  async sql(query: string, opts: SqlOptions = {}): Promise<Record<string, unknown>[]> {
    const result = await this.sqlStatement(query, opts);
    return result.rows.map((row) => decodeRow(result.schema.elements, row));
  }

  /** The raw statement result (schema, positional rows, duration, stats) of one SQL statement. */
  async sqlStatement(query: string, opts: SqlOptions = {}): Promise<SqlStmtResult> {
    const res = await this.exchange('sql', `/v1/database/${encodeURIComponent(this.db)}/sql${opts.confirmed ? '?confirmed=true' : ''}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: query,
    });
    const parsed = SqlResponseWire.safeParse(res.json);
    if (!parsed.success) {
      throw new SpacetimeError('bad_response', `SpacetimeDB answered the SQL query with an unexpected payload: ${parsed.error.issues[0]?.message ?? 'not JSON'}.`);
    }
    const [first, ...rest] = parsed.data;
    if (!first || rest.length > 0) {
      throw new SpacetimeError('bad_response', `SpacetimeDB answered one SQL statement with ${parsed.data.length} results.`);
    }
    return first;
  }

  /**
   * Calls a reducer with positional arguments (SATS-JSON: strings, numbers, booleans; an Option is
   * `{"some": v}` / `{"none": []}`). Resolves when the reducer's transaction has committed; a reducer
   * that returns an error rolls its transaction back and rejects with kind `reducer_failed`.
   *
   * SpacetimeDB answers a committed reducer call with 200 and an empty body. A 2xx with anything
   * else (an HTML page from a proxy, a captive portal, or a URL that is not SpacetimeDB) says nothing
   * about the call: it rejects with kind `bad_response`, and nothing may be taken as stored.
   */
  async call(reducer: string, args: unknown[]): Promise<void> {
    assertSendable(args, 'args');
    const res = await this.exchange('call', `/v1/database/${encodeURIComponent(this.db)}/call/${encodeURIComponent(reducer)}`, {
      method: 'POST',
      // The server compares the media type exactly: no charset parameter.
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(args),
    });
    const html = /\btext\/html\b/i.test(res.headers.get('content-type') ?? '');
    if (html || res.text.trim() !== '') {
      throw new SpacetimeError(
        'bad_response',
        `Reducer call ${reducer} was answered ${res.status} with ${html ? 'an HTML page' : 'a body'} instead of SpacetimeDB's empty answer: is MEMORY_DB_URL the SpacetimeDB host?`,
        { status: res.status, serverMessage: res.text.trim().slice(0, 2000) },
      );
    }
  }

  /** Health check; never throws. */
  async ping(): Promise<PingResult> {
    const started = performance.now();
    try {
      await this.exchange('ping', '/v1/ping', { method: 'GET' });
      return { ok: true, latencyMs: Math.round(performance.now() - started) };
    } catch (err) {
      return { ok: false, error: err instanceof SpacetimeError ? err : new SpacetimeError('unreachable', String(err), { cause: err }) };
    }
  }

  /** One exchange; a host failure is logged (once, then counted: lib/log-repeats.ts), and the recovery after one. */
  private async exchange(op: Operation, path: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<JsonResult> {
    try {
      const res = await this.exchangeOnce(op, path, init);
      if (this.failing) this.log.info('SpacetimeDB reachable again', { host: hostOf(this.url, 'the configured URL'), db: this.db });
      this.failing = false;
      return res;
    } catch (err) {
      if (err instanceof SpacetimeError && HOST_FAILURES.has(err.kind)) {
        this.failing = true;
        logRepeated(this.log, 'warn', 'SpacetimeDB request failed', { kind: err.kind, error: err.message }, { key: `SpacetimeDB request failed ${err.kind}` });
      }
      throw err;
    }
  }

  private async exchangeOnce(op: Operation, path: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<JsonResult> {
    const headers = new Headers(init.headers);
    if (this.token) headers.set('authorization', `Bearer ${this.token}`);
    let res: JsonResult;
    try {
      res = await fetchJson(this.url + path, { method: init.method, headers, body: init.body, timeoutMs: this.timeoutMs, target: TARGET, maxBytes: MAX_ANSWER_BYTES });
    } catch (err) {
      if (err instanceof OutboundError && err.kind === 'timeout') {
        throw new SpacetimeError('timeout', `SpacetimeDB did not answer within ${this.timeoutMs} ms.`, { cause: err });
      }
      if (err instanceof OutboundError && err.kind === 'redirected') {
        throw new SpacetimeError('redirected', `${err.message} (MEMORY_DB_URL).`, { cause: err });
      }
      if (err instanceof OutboundError && err.kind === 'too_large') {
        throw new SpacetimeError('bad_response', `SpacetimeDB sent an answer of more than ${MAX_ANSWER_BYTES / (1024 * 1024)} MiB.`, { cause: err });
      }
      // A write the host may have taken is not answered as a 503 "try again, nothing was done" (an MPP
      // credential is given back on one): a read dropped the same way changed nothing.
      if (op === 'call' && !neverSent(err)) {
        throw new SpacetimeError('connection_lost', `SpacetimeDB at ${hostOf(this.url, 'the configured URL')} dropped the connection before answering the reducer call; it may have run.`, { cause: err });
      }
      throw new SpacetimeError('unreachable', `SpacetimeDB at ${hostOf(this.url, 'the configured URL')} is unreachable.`, { cause: err });
    }
    if (!res.ok) throw statusError(op, path, res);
    return res;
  }
}

function statusError(op: Operation, path: string, res: JsonResult): SpacetimeError {
  const serverMessage = res.text.trim().slice(0, 2000);
  const details = { status: res.status, serverMessage };
  const said = serverMessage ? `: ${serverMessage}` : '.';
  const what = op === 'call' ? `Reducer call ${path.slice(path.lastIndexOf('/') + 1)}` : op === 'sql' ? 'SQL query' : 'Ping';
  switch (res.status) {
    case 530:
      return new SpacetimeError('reducer_failed', `${what} failed${said}`, details);
    case 404:
      return new SpacetimeError('not_found', `${what}: not found${said}`, details);
    case 401:
    case 403:
      return new SpacetimeError('unauthorized', `${what} was refused (${res.status})${said}`, details);
    case 400:
    case 415:
      return new SpacetimeError(op === 'sql' ? 'sql_error' : 'bad_request', `${what} was rejected (${res.status})${said}`, details);
    default:
      return new SpacetimeError('server_error', `${what} answered ${res.status}${said}`, details);
  }
}

/** JSON.stringify would silently turn NaN into null and drop undefined: refuse instead. */
function assertSendable(value: unknown, path: string): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new SpacetimeError('invalid_value', `${path} is ${value}, which JSON cannot carry.`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertSendable(v, `${path}[${i}]`));
    return;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) assertSendable(v, `${path}.${k}`);
    return;
  }
  throw new SpacetimeError('invalid_value', `${path} is a ${typeof value}, which cannot be sent as a reducer argument.`);
}

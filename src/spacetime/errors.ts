/**
 * Every way a SpacetimeDB call can fail, classified once so the memory and task backends can decide
 * what each means for their own routes; `spacetimeToApiError` is the default mapping.
 */
import { ApiError } from '../lib/errors';

export type SpacetimeErrorKind =
  /** Connection refused, DNS failure, reset: nothing answered (a reducer call: it was never sent). */
  | 'unreachable'
  /**
   * A reducer call whose connection was made and then dropped (reset, closed) before the answer: it
   * may have run and committed. Not `unreachable` (503, "nothing done, try again"). Also the host lost
   * after a write committed (`afterCommit`).
   */
  | 'connection_lost'
  /** No complete answer within the client's timeout. */
  | 'timeout'
  /** HTTP 530: the reducer ran and returned an error; its transaction was rolled back. */
  | 'reducer_failed'
  /** HTTP 404: unknown database name/identity, or no such reducer. */
  | 'not_found'
  /** HTTP 401/403: token refused, or the module's client_connected rejected the caller. */
  | 'unauthorized'
  /** A redirect to another origin, where fetch does not send the token: MEMORY_DB_URL is out of date. */
  | 'redirected'
  /** HTTP 400/415 on a reducer call: arguments the reducer cannot decode. */
  | 'bad_request'
  /** HTTP 400 on /sql: the statement did not parse or type-check (unknown table/column, …). */
  | 'sql_error'
  /** Any other non-2xx status (402 energy budget, 5xx, …). */
  | 'server_error'
  /** A 2xx answer whose payload does not have the documented shape. */
  | 'bad_response'
  /** A value that cannot be sent: SQL literal with control characters, non-finite number, … */
  | 'invalid_value';

export interface SpacetimeErrorDetails {
  /** HTTP status when the server answered. */
  status?: number;
  /** The server's own text (e.g. the reducer's error message on a 530), never our wording. */
  serverMessage?: string;
  cause?: unknown;
}

export class SpacetimeError extends Error {
  override name = 'SpacetimeError';
  readonly status: number | null;
  readonly serverMessage: string | null;
  constructor(
    readonly kind: SpacetimeErrorKind,
    message: string,
    details: SpacetimeErrorDetails = {},
  ) {
    super(message, { cause: details.cause });
    this.status = details.status ?? null;
    this.serverMessage = details.serverMessage ?? null;
  }
}

/**
 * The error of a read made after `write` committed: the host gone by then is no longer `unreachable`
 * (503, "nothing was done, try again", which gives a paid request's MPP credential back) but
 * `connection_lost` (502): the write stands. Any other error is returned as it is.
 */
export function afterCommit(err: unknown, write: string): unknown {
  if (!(err instanceof SpacetimeError) || err.kind !== 'unreachable') return err;
  return new SpacetimeError('connection_lost', `${write} committed, but SpacetimeDB could not be reached afterwards: ${err.message}`, { cause: err });
}

/**
 * Default translation for routes: the store being down is 503, slow is 504, a bad value from the
 * client is 422, and anything else is a 502 because it is the store (or our module contract) that
 * misbehaved, not the caller.
 */
export function spacetimeToApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (!(err instanceof SpacetimeError)) return new ApiError(502, 'spacetimedb_error', 'SpacetimeDB call failed.');
  const detail = err.message.slice(0, 500);
  switch (err.kind) {
    case 'unreachable':
      return new ApiError(503, 'spacetimedb_unreachable', 'SpacetimeDB is unreachable.');
    case 'timeout':
      return new ApiError(504, 'spacetimedb_timeout', 'SpacetimeDB did not answer in time.');
    case 'invalid_value':
      return new ApiError(422, 'invalid_value', detail);
    case 'redirected':
      return new ApiError(502, 'spacetimedb_redirected', detail);
    case 'unauthorized':
      return new ApiError(502, 'spacetimedb_unauthorized', `SpacetimeDB refused the sidecar's token (check SPACETIMEDB_TOKEN): ${detail}`);
    default:
      return new ApiError(502, `spacetimedb_${err.kind}`, `SpacetimeDB: ${detail}`);
  }
}

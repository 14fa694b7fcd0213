/**
 * The one error type of the project and the one place that turns any thrown thing into a response.
 * Two envelopes (SPEC §4): `{detail, code, errors?}` for /api/* and /health, the OpenAI
 * `{error:{message,type,code,param}}` for /v1/* and the OpenAI-compatible stream route.
 */
import { isSqliteBusy } from '../db/busy';
import { DB_REPLACED } from '../db/in-place';
import { DB_UPGRADED, type DatabaseUpgradedError } from '../db/migrate';
import type { FieldError } from './api-schemas';
import type { Logger } from './log';
import { logRepeated } from './log-repeats';
import { routedPath } from './http';

export type { FieldError };

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    /** `cause`: the failure it reports, kept for what reads it (`neverSent`), never shown to the client. */
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string>; body?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(detail, extra.cause === undefined ? undefined : { cause: extra.cause });
  }
}

export const badRequest = (code: string, detail: string) => new ApiError(400, code, detail);
export const notFound = (code: string, detail: string) => new ApiError(404, code, detail);
export const conflict = (code: string, detail: string, body?: Record<string, unknown>) => new ApiError(409, code, detail, { body });
export const unprocessable = (detail: string, errors?: FieldError[]) => new ApiError(422, 'validation_error', detail, { errors });
/**
 * A request (or stream) the server's stop ended before its answer; `nothing` says what was not done.
 * Retry-After: a stop lasts ~6 s at most (src/main.ts), and a supervisor's restart follows it.
 */
export const shuttingDown = (nothing = '') =>
  new ApiError(503, 'server_shutting_down', `The sidecar is shutting down${nothing ? `; ${nothing}` : ''}.`, { headers: { 'retry-after': '5' } });

/** A request whose client left (nobody reads it; the status is for the logs), saying what was not done. */
export const clientClosed = (nothing = '') => new ApiError(499, 'client_closed', `The client closed the request${nothing ? `; ${nothing}` : ''}.`);

/** The content type of every JSON body the sidecar writes itself (errors, pre-serialised answers). */
export const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

/** Paths whose clients speak OpenAI and expect its error envelope. */
export function usesOpenAIEnvelope(pathname: string): boolean {
  // The router takes one trailing slash; the envelope follows the route, not the spelling.
  return pathname.startsWith('/v1/') || pathname === '/v1' || routedPath(pathname) === '/api/chat/completions/stream';
}

export function openAIErrorBody(status: number, code: string, message: string, param: string | null = null) {
  const type = status === 401 ? 'authentication_error' : status < 500 ? 'invalid_request_error' : status === 502 || status === 504 ? 'upstream_error' : 'api_error';
  return { error: { message, type, code, param } };
}

export function errorResponse(err: ApiError, pathname: string): Response {
  // A refusal of the body as a whole has the empty path: OpenAI says null where no one parameter is at fault.
  const body = usesOpenAIEnvelope(pathname)
    ? openAIErrorBody(err.status, err.code, err.detail, err.extra.errors?.[0]?.path || null)
    : { detail: err.detail, code: err.code, ...(err.extra.errors ? { errors: err.extra.errors } : {}), ...err.extra.body };
  return new Response(JSON.stringify(body), { status: err.status, headers: { ...JSON_HEADERS, ...err.extra.headers } });
}

interface ValidationIssue {
  path?: string;
  message?: string;
  summary?: string;
}

const STORAGE_FULL = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT']);

/**
 * A failure of local storage (the sidecar's database, the agent's files) as an error the client can
 * act on; null when `err` is something else. SQLite rolls back a statement that fails this way, and
 * every multi-statement write here runs in a transaction that is rolled back with it, and files are
 * replaced by rename, so a full, busy or read-only store means nothing of the request was applied.
 */
export function storageError(err: unknown): ApiError | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  if (STORAGE_FULL.has(code)) return new ApiError(507, 'storage_full', 'The disk the sidecar writes to is full; nothing was written. Free some space and retry.');
  if (isSqliteBusy(err)) {
    return new ApiError(503, 'storage_busy', 'The database is locked by another writer; nothing was written. Retry shortly.', { headers: { 'retry-after': '1' } });
  }
  if (code === 'EMFILE' || code === 'ENFILE') {
    return new ApiError(503, 'too_many_open_files', 'The sidecar has reached its limit of open files (ulimit -n) and could not open the file this needs; retry shortly.', { headers: { 'retry-after': '1' } });
  }
  if (code === DB_REPLACED) {
    return new ApiError(503, 'storage_replaced', 'The sidecar\'s database file was replaced or removed while it runs; nothing was written. Restart the sidecar to use the file now in its place.');
  }
  if (code === DB_UPGRADED) {
    const tags = (err as DatabaseUpgradedError).tags.join(', ');
    return new ApiError(503, 'storage_upgraded', `A newer hermes-optx-api has migrated the database (${tags}) while this one runs; nothing was written. Send writes to the newer sidecar, and restart this one with the newer binary.`);
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS') return new ApiError(503, 'storage_read_only', 'The sidecar\'s storage is read-only; nothing was written.');
  if (/^SQLITE_(IOERR|CORRUPT|NOTADB|CANTOPEN)/.test(code) || code === 'EIO') return new ApiError(503, 'storage_error', 'The sidecar could not read or write its storage; its log says why.');
  return null;
}

/**
 * Elysia's error codes and our ApiError mapped to one ApiError; unknown errors become a logged 500.
 * `route` (method and path, no query) goes into those lines: at LOG_LEVEL=warn there is no access
 * line to say which route failed.
 */
export function toApiError(code: string | number, error: unknown, log: Logger, route?: { method: string; path: string }): ApiError {
  if (error instanceof ApiError) return error;
  switch (code) {
    case 'VALIDATION': {
      const v = error as { type?: string; all?: ValidationIssue[] };
      // A response that fails its own schema is our bug, not the client's.
      if (v.type === 'response') {
        // Where and why only: Elysia puts the whole response in each issue's `value`, which is users'
        // chats, memories and sessions, and has no place in a log.
        const issues = (v.all ?? []).map((i) => ({ path: cleanPath(i.path), message: i.message ?? i.summary ?? 'invalid value' }));
        log.error('response failed its schema', { ...route, issues: JSON.stringify(issues).slice(0, 2000) });
        return new ApiError(500, 'internal_error', 'Internal server error.');
      }
      const where = v.type === 'query' ? 'query' : v.type === 'params' ? 'path' : 'body';
      const errors = (v.all ?? []).map((i) => ({ path: cleanPath(i.path), message: i.message ?? i.summary ?? 'invalid value' }));
      const first = errors[0];
      const detail = first ? `Invalid request ${where}: ${first.path ? `${first.path}: ` : ''}${first.message}.` : `Invalid request ${where}.`;
      return new ApiError(422, 'validation_error', detail, { errors });
    }
    case 'PARSE':
      return new ApiError(400, 'malformed_json', 'The request body is not valid JSON.');
    case 'NOT_FOUND':
      return new ApiError(404, 'not_found', 'No such route.');
    case 'INVALID_COOKIE_SIGNATURE':
    case 'INVALID_FILE_TYPE':
      return new ApiError(400, 'bad_request', 'The request is malformed.');
  }
  const storage = storageError(error);
  if (storage) {
    // The operator's problem, not a bug: SQLite's or the OS's own words, no stack. A locked or full
    // store fails every write request, so one line per kind and then a count (lib/log-repeats.ts).
    logRepeated(log, 'error', 'storage error', { ...route, code: storage.code, error: error instanceof Error ? error.message : String(error) }, { key: `storage error ${storage.code}` });
    return storage;
  }
  const status = (error as { status?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new ApiError(status, 'bad_request', 'The request could not be processed.');
  }
  log.error('unhandled error', { ...route, code: String(code), error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  return new ApiError(500, 'internal_error', 'Internal server error.');
}

function cleanPath(p: string | undefined): string {
  if (!p || p === 'root') return '';
  return p.replace(/^\//, '').replace(/\//g, '.');
}

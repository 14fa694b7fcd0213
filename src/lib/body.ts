/**
 * The request body reader behind every JSON route: a size limit checked before reading (declared
 * length) and while reading (chunked bodies), strict UTF-8, and JSON whatever the content type says,
 * because clients such as `curl -d` label JSON as form data. An empty body is no body (EMPTY_BODY),
 * however it is framed; a blank one is not JSON.
 */
import { ApiError } from './errors';
import { lostDigits } from './money';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * What readJsonBody returns for a body without a byte. A parse hook returning `undefined` tells Elysia
 * "not parsed", and it then parses the (already read) body itself by content type: a chunked empty body,
 * which unlike `Content-Length: 0` has a stream, became a 400 "not valid JSON". The app's transform hook
 * turns this back into `undefined` (see `noBody`).
 */
const EMPTY_BODY: unique symbol = Symbol('empty body');

/** The parsed body with EMPTY_BODY as what it stands for: no body. */
export const noBody = (body: unknown): unknown => (body === EMPTY_BODY ? undefined : body);

/**
 * `exactNumbers`: top-level fields of the body that hold money (EXACT_NUMBER_FIELDS of the route): a
 * JSON number there that a double cannot hold exactly reaches the route as its decimal text.
 */
export async function readJsonBody(request: Request, maxBytes: number, exactNumbers: readonly string[] = []): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (type.startsWith('multipart/')) throw new ApiError(415, 'unsupported_media_type', 'Send the request body as JSON.');
  // Compressed request bodies are rare and a decompression bomb is easy; say so instead of "not UTF-8".
  const coding = request.headers.get('content-encoding')?.trim().toLowerCase();
  if (coding && coding !== 'identity') {
    throw new ApiError(415, 'unsupported_content_encoding', 'Send the request body uncompressed (no Content-Encoding).', { headers: { 'accept-encoding': 'identity' } });
  }
  const bytes = await readLimited(request, maxBytes);
  if (!bytes.byteLength) return EMPTY_BODY;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError(400, 'invalid_utf8', 'The request body is not valid UTF-8.');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'malformed_json', 'The request body is not valid JSON.');
  }
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new ApiError(400, 'json_too_deep', `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.`);
  }
  if (exactNumbers.length) keepLostDigits(text, value, exactNumbers);
  return value;
}

/**
 * Replaces each of `fields` of the body object `value` whose JSON number JSON.parse rounded
 * (9007199254740993, 1.0000000000000001) by the number's exact decimal text (lostDigits), so that a
 * money parser reads every digit or refuses the amount — until 2026-12-07 the rounded double was
 * locked in escrow. Only when one of them holds a number; the source text is found by one scan of the
 * body (a JSON.parse reviver, which gives it too, took 170–600 ms for a 1 MiB body).
 */
function keepLostDigits(text: string, value: unknown, fields: readonly string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  const body = value as Record<string, unknown>;
  if (!fields.some((f) => typeof body[f] === 'number')) return;
  for (const [field, source] of topLevelNumbers(text, fields)) {
    const exact = typeof body[field] === 'number' ? lostDigits(source, body[field]) : null;
    if (exact !== null) body[field] = exact;
  }
}

const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const SPACE = /[ \t\n\r]*/y;

/**
 * The source text of the numbers that `fields` of the top-level object of valid JSON `text` hold, the
 * last of a repeated key (as JSON.parse keeps it). One pass; strings are skipped, keys decoded only
 * when they hold escapes.
 */
function topLevelNumbers(text: string, fields: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  // An escaped spelling of a field (`\u0061mount`) is at most 6 characters for each of its own.
  const longest = 6 * Math.max(...fields.map((f) => f.length));
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) {
          i++;
          escaped = true;
        }
      }
      if (depth !== 1) continue;
      const length = i - start - 1;
      const key = escaped ? (length <= longest ? (JSON.parse(text.slice(start, i + 1)) as string) : null)
        : fields.find((f) => f.length === length && text.startsWith(f, start + 1));
      if (!key || !fields.includes(key)) continue;
      SPACE.lastIndex = i + 1;
      SPACE.test(text);
      if (text.charCodeAt(SPACE.lastIndex) !== 0x3a) continue;
      SPACE.lastIndex++;
      SPACE.test(text);
      NUMBER.lastIndex = SPACE.lastIndex;
      const m = NUMBER.exec(text);
      if (m) found.set(key, m[0]);
    }
  }
  return found;
}

/**
 * No body needs more levels than this. A deeper one is refused before validation: describing a
 * value 20,000 levels deep in a validation error took seconds of the event loop and a gigabyte.
 */
export const MAX_JSON_DEPTH = 128;

/**
 * Whether JSON `text` opens more than `max` arrays/objects inside each other (one pass; strings
 * skipped). Text that is not JSON may end inside a string: the pass stops there.
 */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** The connection is closed after it, so the client's unread remainder is not read (or waited for). */
function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'payload_too_large', `The request body is larger than ${maxBytes} bytes.`, { headers: { connection: 'close' } });
}

/**
 * A failed read of the body as the answer it deserves: Bun's own ceiling (maxRequestBodySize in
 * main.ts) passed first, the same 413 in our envelope; the client closed the connection (or the idle
 * timeout did) before the body was complete, the client's doing and no server error to log (it was a
 * 500 and an `unhandled error` line on /v1/*). Anything else is ours and goes on as it is.
 */
function unreadable(err: unknown, maxBytes: number, request: Request): unknown {
  if (err instanceof Error && /maxRequestBodySize/.test(err.message)) return tooLarge(maxBytes);
  if (request.signal.aborted || (err instanceof Error && err.name === 'AbortError')) {
    return new ApiError(400, 'incomplete_body', 'The request body ended before it was complete.');
  }
  return err;
}

/** Reads at most maxBytes of the body; throws 413 as soon as the limit is passed, without reading the rest. */
export async function readLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  // A declared length within the limit is enforced by the HTTP layer: read it in one native call.
  if (declared >= 0) {
    try {
      return new Uint8Array(await request.arrayBuffer());
    } catch (err) {
      throw unreadable(err, maxBytes, request);
    }
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  while (true) {
    let read: Awaited<ReturnType<typeof reader.read>>;
    try {
      read = await reader.read();
    } catch (err) {
      throw unreadable(err, maxBytes, request);
    }
    const { done, value } = read;
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    parts.push(value);
  }
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Server-sent events, both directions, written once for the whole project:
 * - encoding frames (`event: x\ndata: <one-line JSON>\n\n`, or unnamed `data: …`, LF only) and heartbeat comments;
 * - parsing an upstream byte stream into frames (UTF-8 decoded with {stream:true}, CRLF/CR/LF tolerant);
 * - a pull-based ReadableStream that sends heartbeats while it waits and cancels its producer on disconnect.
 */

import { unreadDeadline } from './stream-deadlines';

const SSE_HEADERS: Record<string, string> = {
  'content-type': 'text/event-stream',
  // no-store as for every answer (app.ts); no-cache as event-stream proxies and clients expect.
  'cache-control': 'no-cache, no-store',
  'x-accel-buffering': 'no',
};

/**
 * A comment line alone, without the blank line that would end a frame: a blank line after a comment
 * makes @microsoft/fetch-event-source (the usual way a browser POSTs to an event stream; its issue #15)
 * call `onmessage` with an empty message, which a client's `JSON.parse(ev.data)` throws on, and a
 * throwing handler makes it send the request again (a second chat turn). Every spec reader skips a
 * comment line wherever it stands, and heartbeats are only sent between whole frames.
 */
export const SSE_PING = ': ping\n';

/**
 * JSON on one line for a `data:` field. JSON.stringify escapes CR, LF and the other control characters,
 * but writes U+0085, U+2028 and U+2029 as they are; Python clients that read an event stream with
 * str.splitlines (requests' iter_lines(decode_unicode=True), httpx's iter_lines, httpx-sse before
 * 0.4.2) end a line there, cut the JSON in two and lose the frame. Escaped, they are the same JSON
 * (Python's json.dumps escapes them by default too). They only occur inside strings, so a plain
 * replacement is safe.
 */
export function sseJson(data: unknown): string {
  return JSON.stringify(data).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `event: <name>\ndata: <json>\n\n`, the JSON written by sseJson, so always one line for every reader. */
export function sseEvent(event: string, data: unknown): string {
  return sseNamedData(event, sseJson(data));
}

/**
 * `data: <payload>\n\n`, preceded by `event: <name>` for a named frame ("message" is the unnamed
 * default and is written unnamed); the payload must already be a single line.
 */
export function sseData(payload: string, event = 'message'): string {
  return event === 'message' ? `data: ${payload}\n\n` : sseNamedData(event, payload);
}

/** `event: <name>\ndata: <payload>\n\n`, named even as "message"; the payload must already be a single line. */
export function sseNamedData(event: string, payload: string): string {
  return `event: ${event}\ndata: ${payload}\n\n`;
}

export interface SseFrame {
  /** The event name; "message" when the frame had no `event:` field. */
  event: string;
  data: string;
  id?: string;
}

/**
 * The largest frame parseSse holds (UTF-16 code units of its unfinished line and data lines): Hermes'
 * biggest frame, `run.completed` with the run's messages, stays far below; a peer that never ends a
 * line would otherwise grow the buffer until the process runs out of memory.
 */
const MAX_SSE_FRAME_CHARS = 32 * 1024 * 1024;

export class SseFrameTooLargeError extends Error {
  override name = 'SseFrameTooLargeError';
  constructor(readonly maxChars: number) {
    super(`an SSE frame exceeded ${maxChars} characters`);
  }
}

/**
 * Parses SSE frames out of a byte stream. Comments are dropped; a final frame without its blank line
 * is still delivered; a frame over maxChars fails with SseFrameTooLargeError.
 */
export async function* parseSse(chunks: AsyncIterable<Uint8Array>, maxChars = MAX_SSE_FRAME_CHARS): AsyncGenerator<SseFrame> {
  const decoder = new TextDecoder('utf-8');
  let buf = '';
  let event = '';
  let data: string[] = [];
  let dataChars = 0;
  let id: string | undefined;
  const dispatch = (): SseFrame | null => {
    if (!data.length) {
      event = '';
      return null;
    }
    const frame: SseFrame = { event: event || 'message', data: data.join('\n'), ...(id !== undefined ? { id } : {}) };
    event = '';
    data = [];
    dataChars = 0;
    return frame;
  };
  const field = (line: string) => {
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') {
      data.push(value);
      dataChars += value.length;
    }
    else if (name === 'event') event = value;
    else if (name === 'id') id = value;
  };
  // Where the next scan for a line end starts: the unfinished line left in buf has been looked at
  // already, so a long line arriving in many chunks is scanned once, not once per chunk.
  let scanFrom = 0;
  const drain = function* (final: boolean): Generator<SseFrame> {
    let start = 0;
    let i = scanFrom;
    for (; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      // A CR at the very end may be the first half of CRLF split across chunks.
      if (c === 13 && i === buf.length - 1 && !final) break;
      const line = buf.slice(start, i);
      if (c === 13 && buf.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
      if (line === '') {
        const f = dispatch();
        if (f) yield f;
      } else field(line);
    }
    buf = buf.slice(start);
    scanFrom = Math.max(0, i - start);
  };
  // Chunks without a line end are only collected, and joined once one arrives: appending each to
  // buf and scanning it would copy the whole unfinished line per chunk (quadratic: a 32 MiB line in
  // 64 KiB chunks took a minute of CPU).
  let pending: string[] = [];
  let pendingChars = 0;
  const takePending = () => {
    buf += pending.join('');
    pending = [];
    pendingChars = 0;
  };
  for await (const chunk of chunks) {
    const text = decoder.decode(chunk, { stream: true });
    // A CR held back at the end of buf may end a line, whatever comes next.
    if (/[\r\n]/.test(text) || buf.endsWith('\r')) {
      takePending();
      buf += text;
      yield* drain(false);
    } else {
      pending.push(text);
      pendingChars += text.length;
    }
    if (buf.length + pendingChars + dataChars > maxChars) throw new SseFrameTooLargeError(maxChars);
  }
  takePending();
  buf += decoder.decode();
  yield* drain(true);
  if (buf) field(buf);
  buf = '';
  const last = dispatch();
  if (last) yield last;
}

export interface EventStreamOptions {
  /** Produces encoded frames; it must end by itself after `cancel` has been called. */
  frames: AsyncIterator<string>;
  heartbeatMs: number;
  /** A client that leaves a frame unread this long is dropped (see unreadDeadline); none when absent. */
  unreadMs?: number;
  /** Closes the client's connection once the unread deadline has ended the stream (ConnectionHold.close). */
  onUnread?: () => void;
  /** Called once when the stream is over, however it ended, before any onUnread (ConnectionHold.restore). */
  onEnd?: () => void;
  /** Called once when the client goes away; must abort whatever feeds `frames` (whose `return` is then called too). */
  cancel: () => void;
  /** When this aborts (server shutdown) the stream sends `shutdownFrame`, closes, and calls `cancel`. */
  shutdown?: AbortSignal;
  shutdownFrame?: () => string;
}

const encoder = new TextEncoder();

/**
 * A pull-based SSE body: a frame is produced only when the client reads, a `: ping` comment is sent
 * when the producer has been silent for heartbeatMs, and a client disconnect calls `cancel` at once.
 *
 * Nothing of a stream may stay reachable from the server-wide shutdown signal once the stream is over:
 * a promise raced on every pull and settled only at shutdown kept one reaction per pull, and through it
 * the whole turn (its generator, buffers and upstream response), ~17 KB per chat turn for the life of
 * the process. So each pull waits on a promise of its own, which the shutdown listener settles while
 * that pull is waiting, and the listener is removed when the stream ends.
 */
export function eventStream(opts: EventStreamOptions): ReadableStream<Uint8Array> {
  let pending: Promise<IteratorResult<string>> | null = null;
  let finished = false;
  // Settles the wait of the pull in progress, if any.
  let interrupt: ((why: 'shutdown') => void) | null = null;
  const onShutdown = () => interrupt?.('shutdown');
  opts.shutdown?.addEventListener('abort', onShutdown, { once: true });
  let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  // Erroring the body resets the connection (`undefined` keeps Bun from printing a stack trace).
  const unread = opts.unreadMs === undefined ? null : unreadDeadline(opts.unreadMs, () => {
    if (finished) return;
    stop();
    controller?.error(undefined);
    opts.onUnread?.();
  });
  const finish = () => {
    const first = !finished;
    finished = true;
    interrupt = null;
    unread?.disarm();
    opts.shutdown?.removeEventListener('abort', onShutdown);
    if (first) opts.onEnd?.();
  };
  // The producer is told to stop, then asked to end, so its `finally` blocks run (an async generator
  // queues the return behind the step it is in).
  const stop = () => {
    finish();
    opts.cancel();
    opts.frames.return?.().catch(() => {});
  };
  const send = (bytes: Uint8Array) => {
    controller?.enqueue(bytes);
    unread?.arm();
  };
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    async pull(controller) {
      unread?.disarm();
      if (finished) return;
      pending ??= opts.frames.next();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const wait = new Promise<'beat' | 'shutdown'>((resolve) => {
        interrupt = resolve;
        if (opts.shutdown?.aborted) resolve('shutdown');
        else timer = setTimeout(() => resolve('beat'), opts.heartbeatMs);
      });
      try {
        const result = await Promise.race([pending, wait]);
        if (finished) return;
        if (result === 'beat') {
          send(encoder.encode(SSE_PING));
          return;
        }
        if (result === 'shutdown') {
          if (opts.shutdownFrame) controller.enqueue(encoder.encode(opts.shutdownFrame()));
          controller.close();
          stop();
          return;
        }
        pending = null;
        if (result.done) {
          finish();
          controller.close();
        } else send(encoder.encode(result.value));
      } catch (err) {
        if (finished) return;
        finish();
        controller.error(err);
      } finally {
        clearTimeout(timer);
        interrupt = null;
      }
    },
    cancel() {
      if (!finished) stop();
    },
  }, { highWaterMark: 0 });
}

export function sseResponse(body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}, status = 200): Response {
  return new Response(body, { status, headers: { ...SSE_HEADERS, ...headers } });
}

/**
 * Asks for the first item at once, so the upstream request starts while the response is still being
 * handed to the server rather than at its first read of the body (time to first token).
 */
export function startNow<T>(it: AsyncIterator<T>): AsyncIterator<T> {
  let first: Promise<IteratorResult<T>> | null = it.next();
  first.catch(() => {}); // the stream's first read receives (and reports) any failure
  return {
    next: () => {
      const f = first ?? it.next();
      first = null;
      return f;
    },
    return: (value?: unknown) => it.return?.(value) ?? Promise.resolve({ done: true, value: undefined }),
  };
}

/**
 * The bodies the /v1 proxy passes on: read as they come, an upstream failure logged by the caller and
 * answered by resetting the client's connection (never printed raw by Bun), event streams also under
 * the idle guard.
 */
import { shuttingDown, openAIErrorBody, type ApiError } from '../../lib/errors';
import { sseData } from '../../lib/sse';
import { readWithin, unreadDeadline } from '../../lib/stream-deadlines';

const encoder = new TextEncoder();

/** What these bodies need of a reader (Bun's and node:stream/web's types of one differ). */
interface Reader {
  read(): Promise<unknown>;
  cancel(reason?: unknown): Promise<void>;
}
/** A read of an upstream body, its failure as the value. */
type Read = { done: true } | { done: false; value: Uint8Array } | Error;
const readOf = (reader: Reader): Promise<Read> =>
  (reader.read() as Promise<Exclude<Read, Error>>).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));

/**
 * A bounded answer's body: its bytes when its first read holds the whole declared length (most JSON answers
 * come whole with their headers), else `body` as it reads (failingQuietly). Bun writes a Content-Length only
 * for bytes: a stream goes out chunked (to an HTTP/1.0 client, ended by closing the connection), and a small
 * answer streamed took the sidecar ~255 µs of CPU, as bytes ~190 (5,000 POST /v1/chat/completions). `declared` is null
 * when fetch unpacks the body (Content-Encoding), whose length is then unknown.
 */
export async function boundedBody(body: ReadableStream<Uint8Array>, declared: number | null, onFailure: (err: unknown) => void): Promise<Uint8Array | ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const first = await readOf(reader);
  if (!(first instanceof Error) && first.done) return new Uint8Array(0);
  if (first instanceof Error || first.value.byteLength !== declared) return failingQuietly(reader, onFailure, first);
  // The whole length is in: the read that follows only sees its end, which lets fetch reuse the connection.
  const next = await readOf(reader);
  return next instanceof Error || !next.done ? failingQuietly(reader, onFailure, first, next) : first.value;
}

/**
 * What `reader` reads, after `pending` (reads already made), a failure (the upstream cut mid-answer) given to
 * `onFailure` and ending the answer with `undefined`: that resets the client's connection, so the truncated
 * answer is not taken for a whole one. Handed to Bun as it came, the fetch error was printed raw to stderr,
 * outside the logger (not JSON under LOG_FORMAT=json, not summarised) and with the upstream URL, whose path
 * may hold a key that publicUrl masks everywhere else.
 */
function failingQuietly(reader: Reader, onFailure: (err: unknown) => void, ...pending: Read[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const read = pending.shift() ?? (await readOf(reader));
      if (read instanceof Error) {
        onFailure(read);
        controller.error(undefined);
      } else if (read.done) controller.close();
      else controller.enqueue(read.value);
    },
    cancel(reason) {
      return reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/**
 * Re-exposes an upstream event stream pull by pull, failing it when the upstream goes silent for
 * idleMs, or when the client leaves what it was sent unread as long (see unreadDeadline). Cancelling
 * the reader closes the upstream connection, so the upstream sees the abort.
 * At shutdown the stream ends at once: with an OpenAI error frame and `[DONE]` when the bytes so far
 * end between two frames, else (a frame cut in half) by resetting the connection, as for a failure.
 */
export function idleGuarded(
  body: ReadableStream<Uint8Array>,
  o: { idleMs: number; shutdown: AbortSignal; onFailure: (err: unknown) => void; onEnd: () => void; onUnread?: () => void },
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let atFrameEnd = true;
  let last = '';
  // Ends a pending read (it resolves as done); the pull then sees the shutdown.
  const onShutdown = () => void reader.cancel().catch(() => {});
  o.shutdown.addEventListener('abort', onShutdown, { once: true });
  let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  const unread = unreadDeadline(o.idleMs, () => {
    end();
    void reader.cancel().catch(() => {});
    controller?.error(undefined);
    o.onUnread?.();
  });
  const end = () => {
    unread.disarm();
    o.shutdown.removeEventListener('abort', onShutdown);
    o.onEnd();
  };
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    async pull(controller) {
      unread.disarm();
      try {
        const read = o.shutdown.aborted ? null : await readWithin(reader, o.idleMs);
        if (!read || o.shutdown.aborted) {
          end();
          void reader.cancel().catch(() => {});
          if (!atFrameEnd) return controller.error(undefined);
          for (const frame of failFrames(shuttingDown())) controller.enqueue(encoder.encode(frame));
          return controller.close();
        }
        if (read.done) {
          end();
          controller.close();
          return;
        }
        const value = read.value;
        // The last few bytes tell whether the stream so far ends with a blank line (LF or CRLF).
        last = (last + String.fromCharCode(...value.subarray(-4))).slice(-4);
        atFrameEnd = last.endsWith('\n\n') || last.endsWith('\r\n\r\n') || last.endsWith('\r\r');
        controller.enqueue(value);
        unread.arm();
      } catch (err) {
        end();
        void reader.cancel().catch(() => {});
        o.onFailure(err);
        // Erroring the body resets the client's connection, so a truncated answer is never mistaken
        // for a complete one. `undefined` keeps Bun from printing a stack trace; we logged above.
        controller.error(undefined);
      }
    },
    cancel(reason) {
      end();
      void reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** An OpenAI error frame, then `[DONE]`: how a stream ends that cannot go on. */
export function* failFrames(e: ApiError): Generator<string> {
  yield sseData(JSON.stringify(openAIErrorBody(e.status, e.code, e.detail)));
  yield sseData('[DONE]');
}

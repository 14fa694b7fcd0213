/**
 * Deadlines on byte streams, both directions: a read that must bring something within idleMs (an
 * upstream that stalls), and a chunk handed to a client that must be taken within ms (a client that
 * stops reading).
 */

export class StreamIdleError extends Error {
  override name = 'StreamIdleError';
  constructor(readonly idleMs: number) {
    super(`no data for ${Math.round(idleMs / 1000)} s`);
  }
}

/** The part of a stream reader readWithin needs (Bun's and Node's reader types differ in extras). */
interface ChunkReader {
  read(): Promise<{ done: true; value?: Uint8Array } | { done: false; value: Uint8Array }>;
}

/** One read that fails with StreamIdleError when nothing arrives within idleMs. */
export async function readWithin(reader: ChunkReader, idleMs: number): ReturnType<ChunkReader['read']> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StreamIdleError(idleMs)), idleMs);
  });
  try {
    return await Promise.race([reader.read(), idle]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Yields the chunks of a body, failing with StreamIdleError when none arrives for idleMs.
 * Leaving the loop early (break/return/throw) cancels the body.
 */
export async function* readWithIdleTimeout(body: ReadableStream<Uint8Array>, idleMs: number): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let finished = false;
  try {
    while (true) {
      const { done, value } = await readWithin(reader, idleMs);
      if (done) {
        finished = true;
        return;
      }
      if (value.byteLength) yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * How long a client may leave what was sent to it unread. Bun asks a body for its next chunk once the
 * last one is on its way to the client; a client that stops reading fills the socket buffers and Bun
 * stops asking. Nothing else notices: the connection's idle timeout is lifted for streams, and the
 * heartbeat and the upstream idle timer only run when asked for a chunk. So such a client held its
 * upstream request, its stream slot and the agent's run for as long as it stayed connected, and as many
 * of them as there are slots refused every other chat with 503 `upstream_busy`. Armed after each chunk
 * handed over, disarmed when the next one is asked for; `onExpire` ends the stream.
 */
export function unreadDeadline(ms: number, onExpire: () => void): { arm(): void; disarm(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    arm() {
      clearTimeout(timer);
      timer = setTimeout(onExpire, ms);
    },
    disarm() {
      clearTimeout(timer);
    },
  };
}

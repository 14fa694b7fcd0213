/**
 * Bun's idle timeout per connection, as the routes that wait on an upstream lift it and give it back.
 * No-ops in-process (tests call app.handle, where there is no server).
 */

interface TimeoutCapableServer {
  timeout(request: Request, seconds: number): void;
}

/** A connection whose idle timeout keepConnectionOpen lifted. */
export interface ConnectionHold {
  /** Closes it within a second or two (a client that stopped reading); `restore` does nothing after. */
  close(): void;
  /** Gives the server's idle timeout back, counted from now. */
  restore(): void;
}

/**
 * Lifts Bun's per-connection idle timeout while a route waits on an upstream and for a long-lived
 * response (SSE, proxied streams), which have their own heartbeats and idle deadlines. No-op
 * in-process (tests call app.handle). `close` is needed because a response body that fails while its
 * client is not reading does not close the connection by itself (Bun waits for the socket to drain).
 * `restore` must follow once the answer is bounded (JSON) or the stream is over: the lifted timeout
 * outlives the response: a client that never read a bounded answer held its connection (on /v1/* the
 * upstream's too) for good, and a kept-alive connection was never reaped after its first stream.
 */
export function keepConnectionOpen(server: TimeoutCapableServer | null | undefined, request: Request, idleTimeoutS: number): ConnectionHold {
  server?.timeout(request, 0);
  let closed = false;
  return {
    close: () => {
      closed = true;
      server?.timeout(request, 1);
    },
    restore: () => {
      if (!closed) server?.timeout(request, idleTimeoutS);
    },
  };
}

/** `answer` with the idle timeout lifted (keepConnectionOpen) until it is ready or refused: for a bounded (JSON) answer. */
export async function heldUntilAnswered<T>(server: TimeoutCapableServer | null | undefined, request: Request, idleTimeoutS: number, answer: () => Promise<T>): Promise<T> {
  const hold = keepConnectionOpen(server, request, idleTimeoutS);
  try {
    return await answer();
  } finally {
    hold.restore();
  }
}

/** `answer` on a held connection; a refusal it throws (a JSON error answer) gives the idle timeout back. */
export async function whileHeld<T>(hold: ConnectionHold, answer: () => Promise<T>): Promise<T> {
  try {
    return await answer();
  } catch (err) {
    hold.restore();
    throw err;
  }
}

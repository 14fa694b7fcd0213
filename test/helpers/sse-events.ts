/** Reading the sidecar's SSE answers in tests: whole, or event by event (to stop half-way). */
import { parseSse } from '../../src/lib/sse';

export interface SseEvent {
  event: string;
  // any: payloads of many shapes, asserted field by field in the tests.
  data: Record<string, any>;
}

interface ByteReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
}

async function* bytes(reader: ByteReader): AsyncGenerator<Uint8Array> {
  while (true) {
    const { done, value } = await reader.read();
    if (done || !value) return;
    yield value;
  }
}

/** Every event of a finished stream, payloads parsed. */
export async function sseEvents(res: Response): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  if (!res.body) return out;
  for await (const f of parseSse(bytes(res.body.getReader()))) out.push({ event: f.event, data: JSON.parse(f.data) });
  return out;
}

/** Reads a stream event by event; `cancel()` hangs up like a client closing the tab. */
export function sseReader(res: Response) {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const frames = parseSse(bytes(reader));
  return {
    async next(): Promise<SseEvent | null> {
      const r = await frames.next();
      return r.done ? null : { event: r.value.event, data: JSON.parse(r.value.data) };
    },
    async cancel(): Promise<void> {
      await reader.cancel();
    },
  };
}

/**
 * Polls until `cond` holds (or `ms` pass), for effects that happen on another connection. The bound
 * only ends a wait that will never succeed, so it is generous: 2 s ran out on a busy CI box.
 */
export async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  // Monotonic: a test may have frozen or moved the wall clock (setSystemTime).
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await Bun.sleep(5);
}

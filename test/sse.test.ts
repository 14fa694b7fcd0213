import { describe, expect, test } from 'bun:test';
import { eventStream, parseSse, sseEvent, SseFrameTooLargeError, SSE_PING } from '../src/lib/sse';
import { readWithIdleTimeout, StreamIdleError } from '../src/lib/stream-deadlines';
import { completionsEvents } from '../src/modules/chat/adapters/completions';
import { until } from './helpers/sse-events';

const enc = new TextEncoder();
async function* bytes(...parts: (string | Uint8Array)[]) {
  for (const p of parts) yield typeof p === 'string' ? enc.encode(p) : p;
}
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('sseEvent', () => {
  test('frames are event + one-line JSON data + blank line, LF only', () => {
    const f = sseEvent('content', { content: 'two\nlines\r\n', session_id: 's' });
    expect(f).toBe('event: content\ndata: {"content":"two\\nlines\\r\\n","session_id":"s"}\n\n');
    expect(f.split('\n').length).toBe(4);
    expect(f).not.toContain('\r');
  });
});

describe('parseSse', () => {
  test('LF, CRLF and CR line endings, split anywhere', async () => {
    const frames = await collect(parseSse(bytes('event: a\r', '\ndata: 1\r\n\r\n', 'data: 2\r\rdata: 3\n', '\n')));
    expect(frames).toEqual([{ event: 'a', data: '1' }, { event: 'message', data: '2' }, { event: 'message', data: '3' }]);
  });

  test('a multi-byte character split across chunks arrives intact', async () => {
    const all = enc.encode('data: {"t":"é€😀"}\n\n');
    const cut = all.indexOf(0xf0) + 2; // inside the 4-byte emoji
    const frames = await collect(parseSse(bytes(all.slice(0, cut), all.slice(cut))));
    expect(JSON.parse(frames[0]!.data)).toEqual({ t: 'é€😀' });
  });

  test('comments are ignored, multi-line data is joined, id is kept, a final frame without blank line is delivered', async () => {
    const frames = await collect(parseSse(bytes(': keepalive\n\nid: 7\ndata: a\ndata: b\n\ndata: tail')));
    expect(frames).toEqual([{ event: 'message', data: 'a\nb', id: '7' }, { event: 'message', data: 'tail', id: '7' }]);
  });

  test('a CR at the end of a chunk ends its line as soon as the next chunk comes, line end or not', async () => {
    async function* thenSilence() {
      yield enc.encode('data: 1\r\r');
      yield enc.encode('data: 2');
      await new Promise(() => {}); // the peer goes quiet: frame 1 must not wait for more
    }
    expect((await parseSse(thenSilence()).next()).value).toEqual({ event: 'message', data: '1' });
  });

  test('a frame with no data is not dispatched', async () => {
    expect(await collect(parseSse(bytes('event: x\n\n')))).toEqual([]);
  });
});

describe('a peer that never ends its frame', () => {
  test('parseSse stops past the limit (an unfinished line, or data lines without the blank line) and reads no further', async () => {
    let pulled = 0;
    async function* endless(line: string) {
      for (;;) {
        pulled++;
        yield enc.encode(line);
      }
    }
    await expect(collect(parseSse(endless('x'.repeat(100)), 1000))).rejects.toBeInstanceOf(SseFrameTooLargeError);
    expect(pulled).toBe(11);
    pulled = 0;
    await expect(collect(parseSse(endless(`data: ${'y'.repeat(94)}\n`), 1000))).rejects.toThrow('exceeded 1000 characters');
    expect(pulled).toBe(11);
    // Up to the limit is fine.
    expect(await collect(parseSse(bytes(`data: ${'z'.repeat(990)}`, '\n\n'), 1000))).toEqual([{ event: 'message', data: 'z'.repeat(990) }]);
  });

  test('a chat stream whose upstream never ends a line fails with upstream_bad_chunk and cancels the upstream body', async () => {
    let cancelled = false;
    // Network-sized chunks: 512 of them before the 32 MiB limit, which a parser copying the whole
    // unfinished line per chunk takes a minute of CPU to reach.
    const chunk = enc.encode('x'.repeat(64 * 1024));
    const body = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(enc.encode('data: ')),
      pull: (c) => c.enqueue(chunk),
      cancel: () => {
        cancelled = true;
      },
    });
    const events = await collect(completionsEvents(body, 5000, () => {}));
    expect(events.at(-1)).toMatchObject({ type: 'failed', code: 'upstream_bad_chunk', status: 502 });
    expect(cancelled).toBe(true);
  });
});

describe('readWithIdleTimeout', () => {
  test('fails with StreamIdleError when the body goes silent, and cancels it', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode('x'));
      },
      cancel() {
        cancelled = true;
      },
    });
    const got: Uint8Array[] = [];
    let error: unknown;
    try {
      for await (const chunk of readWithIdleTimeout(body, 50)) got.push(chunk);
    } catch (err) {
      error = err;
    }
    expect(got.length).toBe(1);
    expect(error).toBeInstanceOf(StreamIdleError);
    expect(cancelled).toBe(true);
  });
});

describe('eventStream', () => {
  test('sends heartbeats while the producer is silent, then its frames, then closes', async () => {
    async function* frames() {
      await Bun.sleep(120);
      yield 'data: 1\n\n';
    }
    const stream = eventStream({ frames: frames(), heartbeatMs: 30, cancel: () => {} });
    const text = await new Response(stream).text();
    expect(text.startsWith(SSE_PING)).toBe(true);
    expect(text.endsWith('data: 1\n\n')).toBe(true);
  });

  test('is pull-based: nothing is produced before the client reads', async () => {
    let produced = 0;
    async function* frames() {
      while (true) {
        produced++;
        yield 'data: x\n\n';
      }
    }
    const stream = eventStream({ frames: frames(), heartbeatMs: 1000, cancel: () => {} });
    await Bun.sleep(20);
    expect(produced).toBe(0);
    const reader = stream.getReader();
    await reader.read();
    await Bun.sleep(20);
    expect(produced).toBeLessThanOrEqual(2);
    await reader.cancel();
  });

  test('a client cancel calls cancel() at once', async () => {
    let cancelled = 0;
    const never = new Promise<IteratorResult<string>>(() => {});
    const stream = eventStream({ frames: { next: () => never }, heartbeatMs: 1000, cancel: () => cancelled++ });
    const reader = stream.getReader();
    void reader.read();
    await reader.cancel();
    expect(cancelled).toBe(1);
  });

  test('a client cancel also ends a generator producer, so its finally blocks run (after the step it is in)', async () => {
    const steps: string[] = [];
    const ac = new AbortController();
    async function* frames(): AsyncGenerator<string> {
      try {
        yield sseEvent('session', {});
        // Waits on the upstream until cancel() aborts it, as a chat turn does.
        steps.push('waiting');
        await new Promise((resolve) => ac.signal.addEventListener('abort', resolve, { once: true }));
        steps.push('upstream aborted');
        yield sseEvent('error', {});
        steps.push('never resumed');
      } finally {
        steps.push('finally');
      }
    }
    const stream = eventStream({ frames: frames(), heartbeatMs: 1000, cancel: () => ac.abort() });
    const reader = stream.getReader();
    await reader.read();
    void reader.read();
    // Waits for the step, not for 100 ms: on a loaded machine the producer may get there later.
    await until(() => steps.includes('waiting'), 5000);
    await reader.cancel();
    await until(() => steps.includes('finally'), 5000);
    expect(steps).toEqual(['waiting', 'upstream aborted', 'finally']);
  });

  test('a finished stream is not kept alive by the long-lived shutdown signal', async () => {
    const shutdown = new AbortController();
    const refs: WeakRef<object>[] = [];
    // Each stream's producer carries a payload only the stream itself references.
    async function run(): Promise<void> {
      const payload = { data: new Uint8Array(64 * 1024) };
      refs.push(new WeakRef(payload));
      async function* frames(): AsyncGenerator<string> {
        for (let i = 0; i < 5; i++) yield sseEvent('content', { n: i, size: payload.data.length });
      }
      await new Response(eventStream({ frames: frames(), heartbeatMs: 1000, cancel: () => {}, shutdown: shutdown.signal, shutdownFrame: () => '' })).text();
    }
    for (let i = 0; i < 40; i++) await run();
    await Bun.sleep(10);
    Bun.gc(true);
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    // A conservative collector may keep the odd one; a leak keeps all of them.
    expect(alive).toBeLessThan(5);
    expect(shutdown.signal.aborted).toBe(false);
  });

  test('shutdown sends the shutdown frame, closes and cancels the producer', async () => {
    const ac = new AbortController();
    let cancelled = 0;
    const never = new Promise<IteratorResult<string>>(() => {});
    const stream = eventStream({ frames: { next: () => never }, heartbeatMs: 1000, cancel: () => cancelled++, shutdown: ac.signal, shutdownFrame: () => 'event: error\ndata: {}\n\n' });
    setTimeout(() => ac.abort(), 20);
    expect(await new Response(stream).text()).toBe('event: error\ndata: {}\n\n');
    expect(cancelled).toBe(1);
  });
});

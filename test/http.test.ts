/**
 * fetchJson reads a whole answer, so it bounds how much: a misconfigured URL or a misbehaving
 * server (a file server, an endless stream) must fail as `too_large` and be cut off, never fill
 * memory. Real servers on port 0, declared lengths and chunked bodies alike.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { fetchJson, OutboundError } from '../src/lib/http';
import { outboundToApiError, upstreamHttpError } from '../src/upstream/errors';
import { startRedirector } from './fakes/redirector';
import { until } from './helpers/sse-events';

let server: ReturnType<typeof Bun.serve>;
let endlessCancelled = false;
let stalledCancelled = false;
const KIB = new Uint8Array(1024).fill(0x61);

beforeAll(() => {
  server = Bun.serve({
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === '/declared') return new Response('x'.repeat(5000), { headers: { 'content-type': 'application/json' } });
      if (path === '/small-json') return Response.json({ ok: 'ü' });
      if (path === '/chunked') {
        // Three 1 KiB chunks, no content-length.
        let n = 0;
        return new Response(new ReadableStream({
          pull(c) {
            if (n++ < 3) c.enqueue(KIB);
            else c.close();
          },
        }));
      }
      if (path === '/gzip') return new Response(Bun.gzipSync(new Uint8Array(200_000).fill(0x61)), { headers: { 'content-encoding': 'gzip' } });
      if (path === '/error-page') {
        return new Response(new ReadableStream({ pull: (c) => c.enqueue(KIB) }), { status: 500 });
      }
      if (path === '/stalled-error') {
        // Headers and a first part of the message, then nothing, never an end.
        return new Response(new ReadableStream({
          start: (c) => c.enqueue(new TextEncoder().encode('{"error":')),
          cancel: () => {
            stalledCancelled = true;
          },
        }), { status: 500, headers: { 'content-type': 'application/json', 'content-length': '100' } });
      }
      if (path === '/endless') {
        return new Response(new ReadableStream({
          pull: (c) => c.enqueue(KIB),
          cancel: () => {
            endlessCancelled = true;
          },
        }));
      }
      return new Response('not found', { status: 404 });
    },
  });
});
afterAll(() => server.stop(true));

const url = (p: string) => `http://127.0.0.1:${server.port}${p}`;

describe('fetchJson size bound', () => {
  test('answers within the bound are read whole, declared or chunked', async () => {
    expect((await fetchJson(url('/small-json'), { timeoutMs: 2000 })).json).toEqual({ ok: 'ü' });
    expect((await fetchJson(url('/declared'), { timeoutMs: 2000, maxBytes: 5000 })).text).toHaveLength(5000);
    expect((await fetchJson(url('/chunked'), { timeoutMs: 2000, maxBytes: 3072 })).text).toBe('a'.repeat(3072));
  });

  test('a declared length over the bound fails before the body is read', async () => {
    const err = await fetchJson(url('/declared'), { timeoutMs: 2000, maxBytes: 4999, target: 'the test server' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundError);
    expect(err).toMatchObject({ kind: 'too_large', message: 'the test server sent an answer too large to read' });
  });

  test('a compressed body is bounded by what it unpacks to, not by its declared length', async () => {
    expect((await fetchJson(url('/gzip'), { timeoutMs: 2000, maxBytes: 200_000 })).text).toHaveLength(200_000);
    await expect(fetchJson(url('/gzip'), { timeoutMs: 2000, maxBytes: 10_000 })).rejects.toMatchObject({ kind: 'too_large' });
  });

  test('a chunked body is cut off as soon as it passes the bound', async () => {
    await expect(fetchJson(url('/chunked'), { timeoutMs: 2000, maxBytes: 3071 })).rejects.toMatchObject({ kind: 'too_large' });
  });

  test('an endless body fails long before the deadline, and the server sees the cancel', async () => {
    // A deadline past the test's own limit: only the size bound can end this (no timing to measure).
    await expect(fetchJson(url('/endless'), { timeoutMs: 600_000, maxBytes: 256 * 1024 })).rejects.toMatchObject({ kind: 'too_large' });
    await until(() => endlessCancelled);
    expect(endlessCancelled).toBe(true);
  });

  test('the upstream route error says what happened', () => {
    expect(outboundToApiError(new OutboundError('too_large', 'Hermes upstream'))).toMatchObject({ status: 502, code: 'upstream_response_too_large' });
  });

  test('an endless upstream error page is read up to 1 MiB for its message, then only its status counts', async () => {
    const err = await upstreamHttpError(await fetch(url('/error-page')), 10_000);
    expect(err).toMatchObject({ status: 500, code: 'upstream_500', detail: 'The Hermes upstream answered 500.' });
  });

  test('an upstream error answer whose body never ends is given up at the answer deadline, and cancelled', async () => {
    const t0 = performance.now();
    const err = await upstreamHttpError(await fetch(url('/stalled-error')), 300);
    expect(err).toMatchObject({ status: 500, code: 'upstream_500', detail: 'The Hermes upstream answered 500.' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    await until(() => stalledCancelled);
    expect(stalledCancelled).toBe(true);
  });
});

describe('redirects', () => {
  test('to another address with a key: refused as a redirect (fetch would drop the key there), naming where to', async () => {
    const moved = startRedirector(`http://localhost:${server.port}`);
    try {
      const auth = { authorization: 'Bearer k' };
      const err = await fetchJson(`${moved.url}/small-json`, { timeoutMs: 2000, target: 'SpacetimeDB', headers: auth }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutboundError);
      expect((err as OutboundError).kind).toBe('redirected');
      expect((err as OutboundError).message).toBe(`SpacetimeDB redirected to another address (http://localhost:${server.port}), where the sidecar's key is not sent: configure that address instead`);
      expect(outboundToApiError(err)).toMatchObject({ status: 502, code: 'upstream_redirected' });
      // Without a key there is nothing to lose: followed. Within the same address: followed, key kept.
      expect((await fetchJson(`${moved.url}/small-json`, { timeoutMs: 2000 })).json).toEqual({ ok: 'ü' });
      const local = startRedirector('http://unused.invalid');
      const same = await fetchJson(`${local.url}/here`, { timeoutMs: 2000, headers: auth });
      expect([same.json, local.hits]).toEqual([{ authorization: 'Bearer k' }, 2]);
      local.stop();
    } finally {
      moved.stop();
    }
  });
});

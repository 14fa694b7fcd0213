/**
 * /v1 answers from an upstream that misbehaves on the wire, on a real socket.
 *
 * An answer that is not an event stream, cut by the upstream mid-body (the agent restarted, a
 * connection reset): the client's connection is reset so the truncated answer is never taken for a
 * whole one, and the failure is told through the sidecar's own logger, never printed by Bun as a raw
 * error naming the upstream URL (whose path may hold a key, masked everywhere else).
 *
 * A status line fetch accepts but a Response cannot carry (`HTTP/1.1 000`, `099`): a 502 in the
 * OpenAI envelope, never the 500 and `unhandled error` of a bug.
 */
import { afterAll, expect, test } from 'bun:test';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/lib/log';
import { jsonOf, makeTestApp, tempDir } from './helpers/app';

/** A key-like path segment (publicUrl masks it): a gateway behind a provider that routes by key. */
const SECRET_SEGMENT = 'sk-live-abcdef0123456789abcdef';

/** What the raw upstream answers a /v1 request: by default a head promising 100 bytes, 11 sent, then a reset. */
let statusLine = '200 OK';

/**
 * An upstream that answers /v1 requests with `statusLine` and a head promising 100 bytes, sends 11
 * and resets the connection; any other path (the probe's) is a 404.
 */
async function rawUpstream(): Promise<{ server: Server; url: string }> {
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    sock.on('data', (d) => {
      const path = d.toString('latin1').split(' ')[1] ?? '';
      if (!path.includes('/v1/')) return void sock.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      sock.write(`HTTP/1.1 ${statusLine}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"partial":`);
      setTimeout(() => sock.resetAndDestroy(), 50);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}/gw/${SECRET_SEGMENT}` };
}

const upstream = await rawUpstream();
afterAll(() => upstream.server.close());

test('in process: the client sees the cut (never a complete-looking answer), and the sidecar logs it once, without the upstream URL', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: upstream.url, HERMES_API_KEY: 'k' }, log });
  t.app.listen({ port: 0, hostname: '127.0.0.1' });
  try {
    const res = await fetch(`http://127.0.0.1:${t.app.server!.port}/v1/models`);
    expect(res.status).toBe(200);
    expect(await res.text().then(() => 'complete', () => 'cut')).toBe('cut');
    await Bun.sleep(50);
    const failures = lines.filter((l) => l.msg === 'proxied upstream stream failed');
    expect(failures).toEqual([expect.objectContaining({ level: 'warn', path: '/v1/models' })]);
    expect(JSON.stringify(lines)).not.toContain(SECRET_SEGMENT);
  } finally {
    await t.app.stop(true);
    t.close();
  }
});

test('the server process writes only its JSON log lines on stderr for such a cut, none naming the upstream path', async () => {
  const dir = tempDir();
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, '../src/main.ts'), '--port', '0', '--host', '127.0.0.1'], {
    env: { PATH: process.env.PATH ?? '', HERMES_HOME: join(dir, 'home'), HERMES_AGENT_URL: upstream.url, HERMES_API_KEY: 'k', LOG_FORMAT: 'json', LOG_LEVEL: 'warn' },
    cwd: tmpdir(),
    stdout: 'pipe',
    stderr: 'pipe',
  });
  try {
    const reader = proc.stdout.getReader();
    let out = '';
    let port = 0;
    while (!port) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`server did not start: ${out}${await new Response(proc.stderr).text()}`);
      out += new TextDecoder().decode(value);
      port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(out)?.[1] ?? 0);
    }
    reader.releaseLock();
    const res = await fetch(`http://127.0.0.1:${port}/v1/models`);
    expect(await res.text().then(() => 'complete', () => 'cut')).toBe('cut');
    await Bun.sleep(100);
  } finally {
    proc.kill('SIGTERM');
    await proc.exited;
  }
  const err = await new Response(proc.stderr).text();
  expect(err).not.toContain(SECRET_SEGMENT);
  const lines = err.split('\n').filter(Boolean);
  for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('proxied upstream stream failed');
}, 20_000);

test('a status below 100, which fetch passes on and a Response cannot carry, is a 502 in the OpenAI envelope (it was a 500 and `unhandled error`)', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const t = await makeTestApp({ env: { HERMES_AGENT_URL: upstream.url, HERMES_API_KEY: 'k' }, log });
  try {
    for (const line of ['000 Zero', '099 Odd']) {
      statusLine = line;
      const res = await t.fetch('/v1/models');
      expect(res.status).toBe(502);
      expect((await jsonOf(res)).error).toMatchObject({ code: 'upstream_bad_status', type: 'upstream_error' });
    }
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  } finally {
    statusLine = '200 OK';
    t.close();
  }
});

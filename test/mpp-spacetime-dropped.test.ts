/**
 * A paid write on SpacetimeDB (MEMORY_BACKEND / TASKS_BACKEND=spacetimedb) whose reducer call reached
 * the host and ran, but whose connection dropped before the answer came back: the write may have been
 * done, so the credential stays spent (docs/wallet.md: given back only when nothing was done). A host
 * that refuses the connection did nothing: that 503 still gives it back.
 */
import { afterAll, afterEach, expect, test } from 'bun:test';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { startFakeSpacetime } from './fakes/spacetimedb';
import { closedUrl, type TestApp } from './helpers/app';
import { newCredential, sendWithAuth, useMppApps } from './helpers/mpp';

type Json = Record<string, any>;
const { chain, open } = await useMppApps({ hermes: false });
const fake = startFakeSpacetime();
afterAll(() => fake.stop());
afterEach(() => {
  fake.tables.get('memory_entry')!.rows = [];
});

const send = sendWithAuth;
const credential = (app: TestApp) => newCredential(app, chain);

/**
 * A relay to the fake host that passes every exchange on, except the answer to a reducer call
 * (`/call/…`) while `mode` says: `drop` drops the client's connection when it arrives (the reducer ran,
 * the sidecar never hears so); `down` passes it on and then goes off the network (refusing connections).
 */
async function relay(target: string): Promise<{ url: string; stop: () => void; mode: { now: 'pass' | 'drop' | 'down' } }> {
  const mode = { now: 'drop' as 'pass' | 'drop' | 'down' };
  const { port, hostname } = new URL(target);
  const sockets = new Set<Socket>();
  const server: Server = createServer((c) => {
    const up = connect(Number(port), hostname);
    sockets.add(c).add(up);
    let call = false;
    c.on('data', (d) => {
      // Each request's first chunk is its request line: whether it calls a reducer.
      const text = d.toString('latin1');
      if (/^[A-Z]+ \S+ HTTP\/1/.test(text)) call = text.startsWith('POST ') && text.split('\r\n', 1)[0]!.includes('/call/');
      up.write(d);
    });
    up.on('data', (d) => {
      if (!call || mode.now === 'pass') return void c.write(d);
      if (mode.now === 'down') {
        c.write(d);
        server.close();
        setImmediate(() => { for (const s of sockets) s.destroy(); });
        return;
      }
      c.destroy();
      up.destroy();
    });
    up.on('close', () => c.destroy());
    c.on('close', () => up.destroy());
    c.on('error', () => {});
    up.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    stop: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
    mode,
  };
}

type Relay = Awaited<ReturnType<typeof relay>>;

/** Runs `steps` with a relay to the fake host, stopped afterwards. */
async function withRelay(steps: (host: Relay) => Promise<void>): Promise<void> {
  const host = await relay(fake.url);
  try {
    await steps(host);
  } finally {
    host.stop();
  }
}

/** A paid POST /api/memory through the relay in `mode`. */
async function paidMemoryWrite(host: Relay, mode: 'drop' | 'down', content: string) {
  host.mode.now = mode;
  const app = await open({ MEMORY_BACKEND: 'spacetimedb', MEMORY_DB_URL: host.url, SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2' });
  const cred = await credential(app);
  const res = await send(app, cred, 'POST', '/api/memory', JSON.stringify({ content }));
  return { app, cred, res, body: (await res.json()) as Json };
}

/** A task created through the relay, then claimed paid with the relay in `mode`. */
async function paidClaim(host: Relay, mode: 'drop' | 'down') {
  const app = await open({ TASKS_BACKEND: 'spacetimedb', MEMORY_DB_URL: host.url, SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2' });
  host.mode.now = 'pass';
  const made = await app.json('POST', '/api/tasks', { title: 't' }, { authorization: 'Bearer good-key' });
  expect(made.status).toBe(201);
  host.mode.now = mode;
  const cred = await credential(app);
  const res = await send(app, cred, 'POST', `/api/tasks/${(made.body as Json).task_id}/claim`, '{"agent_name":"a"}');
  return { app, cred, res, body: (await res.json()) as Json };
}

test('a memory written on SpacetimeDB whose answer was lost: spent, and the memory is there', () => withRelay(async (host) => {
  const { app, cred, res, body } = await paidMemoryWrite(host, 'drop', 'kept');
  expect(fake.tables.get('memory_entry')!.rows).toHaveLength(1);
  expect([res.status, body.code, res.headers.get('payment-receipt') !== null]).toEqual([502, 'spacetimedb_connection_lost', true]);
  expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
}));

test('a task claim on SpacetimeDB whose answer was lost: spent', () => withRelay(async (host) => {
  const { app, cred, res, body } = await paidClaim(host, 'drop');
  expect([res.status, body.code, res.headers.get('payment-receipt') !== null]).toEqual([502, 'spacetimedb_connection_lost', true]);
  expect((await send(app, cred, 'GET', '/api/memory')).status).toBe(402);
}));

test('a memory stored on SpacetimeDB whose confirming read-back then finds the host gone: spent', () => withRelay(async (host) => {
  const { app, cred, res, body } = await paidMemoryWrite(host, 'down', 'kept too');
  expect(fake.tables.get('memory_entry')!.rows).toHaveLength(1);
  expect([res.status, body.code, res.headers.get('payment-receipt') !== null]).toEqual([502, 'spacetimedb_connection_lost', true]);
  expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
}));

test('a task claim whose proposal SpacetimeDB took, and which then finds the host gone: spent', () => withRelay(async (host) => {
  const { app, cred, res, body } = await paidClaim(host, 'down');
  expect([res.status, body.code, res.headers.get('payment-receipt') !== null]).toEqual([502, 'spacetimedb_connection_lost', true]);
  expect(fake.tables.get('memory_entry')!.all().some((r) => String(r.key).startsWith('task_step:'))).toBe(true);
  expect((await send(app, cred, 'GET', '/api/memory')).status).toBe(402);
}));

test('a memory write whose SpacetimeDB refuses the connection (503 spacetimedb_unreachable): given back', async () => {
  const app = await open({ MEMORY_BACKEND: 'spacetimedb', MEMORY_DB_URL: await closedUrl(), SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2' });
  const cred = await credential(app);
  const res = await send(app, cred, 'POST', '/api/memory', '{"content":"lost"}');
  expect([res.status, ((await res.json()) as Json).code, res.headers.get('payment-receipt')]).toEqual([503, 'spacetimedb_unreachable', null]);
  expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
});

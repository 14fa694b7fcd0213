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
import { credentialFor, payer, useMppApps } from './helpers/mpp';

type Json = Record<string, any>;
const { chain, open } = await useMppApps({ hermes: false });
const fake = startFakeSpacetime();
afterAll(() => fake.stop());
afterEach(() => {
  fake.tables.get('memory_entry')!.rows = [];
});

const send = (app: TestApp, auth: string, method: string, path: string, body?: string) =>
  app.fetch(path, { method, headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body });
const credential = (app: TestApp) => credentialFor(app, payer(app, chain).client);

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

test('a memory written on SpacetimeDB whose answer was lost: spent, and the memory is there', async () => {
  const host = await relay(fake.url);
  try {
    const app = await open({ MEMORY_BACKEND: 'spacetimedb', MEMORY_DB_URL: host.url, SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2' });
    const cred = await credential(app);
    const res = await send(app, cred, 'POST', '/api/memory', '{"content":"kept"}');
    const body = (await res.json()) as Json;
    expect(fake.tables.get('memory_entry')!.rows).toHaveLength(1);
    expect([res.status, body.code, res.headers.get('payment-receipt') !== null]).toEqual([502, 'spacetimedb_connection_lost', true]);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  } finally {
    host.stop();
  }
});

test('a task claim on SpacetimeDB whose answer was lost: spent', async () => {
  const host = await relay(fake.url);
  try {
    const app = await open({ TASKS_BACKEND: 'spacetimedb', MEMORY_DB_URL: host.url, SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2' });
    host.mode.now = 'pass';
    const made = await app.json('POST', '/api/tasks', { title: 't' }, { authorization: 'Bearer good-key' });
    expect(made.status).toBe(201);
    host.mode.now = 'drop';
    const cred = await credential(app);
    const res = await send(app, cred, 'POST', `/api/tasks/${(made.body as Json).task_id}/claim`, '{"agent_name":"a"}');
    expect([res.status, ((await res.json()) as Json).code, res.headers.get('payment-receipt') !== null]).toEqual([502, 'spacetimedb_connection_lost', true]);
    expect((await send(app, cred, 'GET', '/api/memory')).status).toBe(402);
  } finally {
    host.stop();
  }
});

test('a memory stored on SpacetimeDB whose confirming read-back then finds the host gone: spent', async () => {
  const host = await relay(fake.url);
  host.mode.now = 'down';
  try {
    const app = await open({ MEMORY_BACKEND: 'spacetimedb', MEMORY_DB_URL: host.url, SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2' });
    const cred = await credential(app);
    const res = await send(app, cred, 'POST', '/api/memory', '{"content":"kept too"}');
    const body = (await res.json()) as Json;
    expect(fake.tables.get('memory_entry')!.rows).toHaveLength(1);
    expect([res.status, body.code, res.headers.get('payment-receipt') !== null]).toEqual([502, 'spacetimedb_connection_lost', true]);
    expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(402);
  } finally {
    host.stop();
  }
});

test('a task claim whose proposal SpacetimeDB took, and which then finds the host gone: spent', async () => {
  const host = await relay(fake.url);
  try {
    const app = await open({ TASKS_BACKEND: 'spacetimedb', MEMORY_DB_URL: host.url, SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2' });
    host.mode.now = 'pass';
    const made = await app.json('POST', '/api/tasks', { title: 't' }, { authorization: 'Bearer good-key' });
    expect(made.status).toBe(201);
    host.mode.now = 'down';
    const cred = await credential(app);
    const res = await send(app, cred, 'POST', `/api/tasks/${(made.body as Json).task_id}/claim`, '{"agent_name":"a"}');
    expect([res.status, ((await res.json()) as Json).code, res.headers.get('payment-receipt') !== null]).toEqual([502, 'spacetimedb_connection_lost', true]);
    expect(fake.tables.get('memory_entry')!.all().some((r) => String(r.key).startsWith('task_step:'))).toBe(true);
    expect((await send(app, cred, 'GET', '/api/memory')).status).toBe(402);
  } finally {
    host.stop();
  }
});

test('a memory write whose SpacetimeDB refuses the connection (503 spacetimedb_unreachable): given back', async () => {
  const app = await open({ MEMORY_BACKEND: 'spacetimedb', MEMORY_DB_URL: await closedUrl(), SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2' });
  const cred = await credential(app);
  const res = await send(app, cred, 'POST', '/api/memory', '{"content":"lost"}');
  expect([res.status, ((await res.json()) as Json).code, res.headers.get('payment-receipt')]).toEqual([503, 'spacetimedb_unreachable', null]);
  expect((await send(app, cred, 'GET', '/api/tasks')).status).toBe(200);
});

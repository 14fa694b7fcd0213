/**
 * `Idempotency-Key` on POST /api/wallet/escrow (docs/wallet.md, "Idempotent locks"): a client whose
 * lock timed out, or whose connection dropped after the commit, retries with the same key and gets the
 * escrow it already has instead of locking the funds twice.
 */
import { afterAll, afterEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { ensureBinary, startBinary, type RunningBinary } from './helpers/binary';

type Json = Record<string, any>;

let t: TestApp | null = null;
afterEach(() => {
  t?.close();
  t = null;
});
async function open(): Promise<TestApp> {
  t = await makeTestApp({ env: { EVM_RPC_URLS: 'mainnet=http://127.0.0.1:9', EVM_TOKENS: 'mainnet:DAI:0x6B175474E89094C44Da98b954EedeAC495271d0F:18' } });
  return t;
}

const BODY = { task_id: 'task-1', amount: '10', gaze_required: false };
const lock = (app: TestApp, key: string | null, body: Json = BODY) =>
  app.json<Json>('POST', '/api/wallet/escrow', body, key === null ? {} : { 'idempotency-key': key });
const rows = (app: TestApp) => app.deps.db.sqlite.query<{ n: number }, []>('SELECT COUNT(*) AS n FROM escrows').get()?.n;
const events = (app: TestApp) => app.deps.db.sqlite.query<{ n: number }, []>('SELECT COUNT(*) AS n FROM escrow_events').get()?.n;
const overview = async (app: TestApp) => (await app.json<Json>('GET', '/api/wallet')).body.escrow;

describe('Idempotency-Key on POST /api/wallet/escrow', () => {
  test('a retry after a committed lock answers the same escrow (201, same body, Idempotent-Replayed: true) and locks nothing more', async () => {
    const app = await open();
    const first = await lock(app, 'retry-1');
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await lock(app, 'retry-1');
    expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
    expect(again.body).toEqual(first.body);
    expect([rows(app), events(app)]).toEqual([1, 1]);
    expect(await overview(app)).toMatchObject({ locked: '10', count: 1 });
  });

  test('the request is compared normalised: the same amount written otherwise, the defaults spelled out, the default actor named, an EVM recipient in another letter case', async () => {
    const app = await open();
    const first = await lock(app, 'norm-1');
    const same = [
      { ...BODY, amount: 10 },
      { ...BODY, amount: '10.000' },
      { ...BODY, token: 'OPTX', ttl_seconds: 86_400, actor: 'api' },
    ];
    for (const body of same) {
      const r = await lock(app, 'norm-1', body);
      expect([body, r.status, r.body.escrow_id]).toEqual([body, 201, first.body.escrow_id]);
    }
    expect(rows(app)).toBe(1);
    // An EVM recipient is one address in any letter case, as release matches it.
    const evm = '0x52908400098527886E0F7030069857D2E4169EE7';
    const withRecipient = await lock(app, 'norm-2', { ...BODY, recipient: evm.toLowerCase() });
    const r = await lock(app, 'norm-2', { ...BODY, recipient: evm });
    expect([r.status, r.body.escrow_id, r.body.recipient]).toEqual([201, withRecipient.body.escrow_id, evm.toLowerCase()]);
    expect((await lock(app, 'norm-2', { ...BODY, recipient: evm.replace('0x', '0X') })).body.code).toBe('idempotency_key_reused');
  });

  test('a replay shows the escrow as it is now: released since, it says released', async () => {
    const app = await open();
    const first = await lock(app, 'now-1');
    const rel = await app.json<Json>('POST', '/api/wallet/escrow/release', { escrow_id: first.body.escrow_id, recipient: 'agent-b' });
    expect(rel.status).toBe(200);
    const again = await lock(app, 'now-1');
    expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
    expect(again.body).toEqual({ ...first.body, status: 'released', released_at: rel.body.released_at, released_to: 'agent-b' });
    expect(rows(app)).toBe(1);
  });

  test('the same key with another request is 422 idempotency_key_reused, and nothing is written', async () => {
    const app = await open();
    const first = await lock(app, 'reuse-1');
    const others: Json[] = [
      { ...BODY, amount: '10.5' },
      { ...BODY, task_id: 'task-2' },
      { ...BODY, token: 'DAI' },
      { ...BODY, recipient: 'agent-b' },
      { ...BODY, gaze_required: true },
      { ...BODY, ttl_seconds: 3600 },
      { ...BODY, actor: 'someone' },
    ];
    for (const body of others) {
      const r = await lock(app, 'reuse-1', body);
      expect([body, r.status, r.body.code, r.headers.get('idempotent-replayed')]).toEqual([body, 422, 'idempotency_key_reused', null]);
      expect(r.body.detail).toContain(first.body.escrow_id);
    }
    expect([rows(app), events(app)]).toEqual([1, 1]);
    expect(await overview(app)).toMatchObject({ locked: '10', count: 1 });
  });

  test('50 concurrent locks with one key: one escrow, every answer names it, the totals count it once', async () => {
    const app = await open();
    const answers = await Promise.all(Array.from({ length: 50 }, () => lock(app, 'burst-1')));
    const ids = new Set(answers.map((a) => a.body.escrow_id));
    expect([...new Set(answers.map((a) => a.status))]).toEqual([201]);
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true').length).toBe(49);
    expect([rows(app), events(app)]).toEqual([1, 1]);
    expect(await overview(app)).toMatchObject({ locked: '10', count: 1 });
  });

  test('an invalid key is 422 idempotency_key_invalid and nothing is written', async () => {
    const app = await open();
    for (const key of ['', 'x'.repeat(256), 'tab\there', 'caf\u00e9']) {
      const r = await lock(app, key);
      expect([key, r.status, r.body.code, r.body.errors?.[0]?.path]).toEqual([key, 422, 'idempotency_key_invalid', 'Idempotency-Key']);
    }
    expect([rows(app), events(app)]).toEqual([0, 0]);
    // The limits themselves are keys: 1 and 255 printable characters, spaces and punctuation included.
    for (const key of ['k', 'x'.repeat(255), 'order 42/lock #1 ~!']) expect((await lock(app, key)).status).toBe(201);
    expect(rows(app)).toBe(3);
  });

  test('as HTTP reads the header: leading and trailing spaces and tabs are not the key; the header sent twice is one key joined with ", "', async () => {
    const app = await open();
    const first = await lock(app, 'k');
    const again = await lock(app, ' k\t');
    expect([again.status, again.headers.get('idempotent-replayed'), again.body.escrow_id]).toEqual([201, 'true', first.body.escrow_id]);
    const twice = new Headers({ 'content-type': 'application/json' });
    twice.append('idempotency-key', 'a');
    twice.append('idempotency-key', 'b');
    const joined = (await (await app.fetch('/api/wallet/escrow', { method: 'POST', headers: twice, body: JSON.stringify(BODY) })).json()) as Json;
    const once = await lock(app, 'a, b');
    expect([once.status, once.headers.get('idempotent-replayed'), once.body.escrow_id]).toEqual([201, 'true', joined.escrow_id]);
    expect(rows(app)).toBe(2);
  });

  test('a retry is answered while another process holds the write lock (a new lock waits for it)', async () => {
    const app = await open();
    const first = await lock(app, 'held-1');
    const other = new Database(join(app.dir, 'data', 'optx-api.db'));
    other.run('BEGIN IMMEDIATE');
    try {
      const again = await lock(app, 'held-1');
      expect([again.status, again.headers.get('idempotent-replayed'), again.body.escrow_id]).toEqual([201, 'true', first.body.escrow_id]);
    } finally {
      other.run('ROLLBACK');
      other.close();
    }
  });

  test('a request refused for its body takes no key: the corrected retry with it locks', async () => {
    const app = await open();
    expect((await lock(app, 'fix-1', { ...BODY, amount: '-1' })).status).toBe(422);
    const r = await lock(app, 'fix-1');
    expect([r.status, r.headers.get('idempotent-replayed'), rows(app)]).toEqual([201, null, 1]);
  });

  test('without a key nothing changes: two equal requests lock twice; keys are kept with their escrow, one key one escrow', async () => {
    const app = await open();
    expect((await lock(app, null)).status).toBe(201);
    expect((await lock(app, null)).status).toBe(201);
    expect((await lock(app, 'a')).status).toBe(201);
    expect((await lock(app, 'b')).status).toBe(201);
    expect(rows(app)).toBe(4);
    expect(app.deps.db.sqlite.query('SELECT idempotency_key AS k FROM escrows WHERE idempotency_key IS NOT NULL ORDER BY k').all()).toEqual([{ k: 'a' }, { k: 'b' }]);
    // The unique index refuses a second row with a key, whoever writes it.
    expect(() => app.deps.db.sqlite.run(`INSERT INTO escrows (id, task_id, amount, token, decimals, gaze_required, status, created_at, expires_at, expires_at_ms, idempotency_key)
      VALUES ('esc_dup', 't', '1', 'OPTX', 6, 0, 'locked', '2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z', 0, 'a')`)).toThrow(/UNIQUE/);
  });

  test('the OpenAPI document lists the header and the replay header', async () => {
    const app = await open();
    const doc = (await app.json<Json>('GET', '/openapi/json')).body;
    const op = doc.paths['/api/wallet/escrow'].post;
    const param = op.parameters.find((p: Json) => p.name === 'Idempotency-Key');
    expect(param).toMatchObject({ in: 'header', required: false, schema: { type: 'string', minLength: 1, maxLength: 255 } });
    expect(Object.keys(op.responses['201'].headers ?? {})).toEqual(['Idempotent-Replayed']);
  });

  test('a page of an allowed origin can read Idempotent-Replayed', async () => {
    t = await makeTestApp({ env: { CORS_ORIGINS: 'https://app.example' } });
    const res = await t.fetch('/api/wallet/escrow', { method: 'POST', headers: { origin: 'https://app.example', 'content-type': 'application/json', 'idempotency-key': 'cors-1' }, body: JSON.stringify(BODY) });
    expect(res.status).toBe(201);
    expect(res.headers.get('access-control-expose-headers')?.split(/\s*,\s*/)).toContain('idempotent-replayed');
  });
});

describe('two sidecars on one data dir', () => {
  const running: RunningBinary[] = [];
  afterAll(async () => {
    for (const r of running) {
      r.proc.kill('SIGTERM');
      await r.proc.exited;
    }
  });

  test('25 concurrent locks with one key to each of two processes: one escrow, every answer names it, the totals count it once', async () => {
    const binary = await ensureBinary();
    const dir = tempDir('optx-idem-');
    const env = { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: join(dir, 'data'), HERMES_AGENT_URL: 'http://127.0.0.1:9' };
    const a = await startBinary(binary, env);
    running.push(a);
    const b = await startBinary(binary, env);
    running.push(b);
    const send = (base: string, key: string) => fetch(`${base}/api/wallet/escrow`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(BODY),
    }).then(async (r) => ({ status: r.status, id: ((await r.json()) as Json).escrow_id }));
    for (const key of ['two-1', 'two-2', 'two-3']) {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => send(i % 2 ? a.base : b.base, key)));
      expect([key, [...new Set(answers.map((x) => x.status))], new Set(answers.map((x) => x.id)).size]).toEqual([key, [201], 1]);
    }
    const list = (await (await fetch(`${a.base}/api/wallet/escrow`)).json()) as Json;
    expect(list.total).toBe(3);
    const totals = ((await (await fetch(`${b.base}/api/wallet`)).json()) as Json).escrow;
    expect(totals).toMatchObject({ locked: '30', count: 3 });
  }, 120_000);
});

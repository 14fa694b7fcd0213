import { afterAll, beforeEach, describe, expect, test } from 'bun:test';
import { ReducerFailure, startFakeSpacetime, type FakeSpacetime } from './spacetimedb';

const fake: FakeSpacetime = startFakeSpacetime();
afterAll(() => fake.stop());

async function sqlRaw(query: string, db = fake.db): Promise<{ status: number; text: string }> {
  const res = await fetch(`${fake.url}/v1/database/${db}/sql`, { method: 'POST', body: query });
  return { status: res.status, text: await res.text() };
}

interface Stmt {
  schema: { elements: { name: { some: string }; algebraic_type: unknown }[] };
  rows: unknown[][];
  total_duration_micros: number;
}

async function sql(query: string): Promise<Stmt> {
  const r = await sqlRaw(query);
  if (r.status !== 200) throw new Error(`${r.status}: ${r.text}`);
  const body = JSON.parse(r.text) as Stmt[];
  expect(body).toHaveLength(1);
  return body[0] as Stmt;
}

const names = (s: Stmt) => s.schema.elements.map((e) => e.name.some);

async function call(reducer: string, args: unknown, contentType = 'application/json'): Promise<{ status: number; text: string }> {
  const res = await fetch(`${fake.url}/v1/database/${fake.db}/call/${reducer}`, { method: 'POST', headers: { 'content-type': contentType }, body: JSON.stringify(args) });
  return { status: res.status, text: await res.text() };
}

async function errorOf(query: string): Promise<string> {
  const r = await sqlRaw(query);
  expect(r.status).toBe(400);
  return r.text;
}

beforeEach(() => {
  fake.tables.delete('item');
  const item = fake.defineTable('item', [
    { name: 'id', type: 'U32' },
    { name: 'name', type: 'String' },
    { name: 'qty', type: 'I32' },
    { name: 'price', type: 'F64' },
    { name: 'active', type: 'Bool' },
    { name: 'note', type: 'Option<String>' },
  ]);
  item.insert({ id: 1, name: 'apple', qty: 5, price: 1.5, active: true, note: 'red' });
  item.insert({ id: 2, name: "o'brien", qty: -3, price: 0.25, active: false, note: null });
  item.insert({ id: 3, name: 'cherry', qty: 12, price: 3, active: true, note: null });
  item.insert({ id: 4, name: 'Zebra', qty: 0, price: 10, active: false, note: 'striped' });
  fake.tables.get('memory_entry')!.rows = [];
});

describe('fake SpacetimeDB: SQL wire format', () => {
  test('schema elements carry {some: name} and SATS type tags; Option rows use numeric tags', async () => {
    const s = await sql('SELECT * FROM item WHERE id = 1 OR id = 2');
    expect(names(s)).toEqual(['id', 'name', 'qty', 'price', 'active', 'note']);
    expect(s.schema.elements[0]?.algebraic_type).toEqual({ U32: [] });
    expect(s.schema.elements[5]?.algebraic_type).toEqual({
      Sum: {
        variants: [
          { name: { some: 'some' }, algebraic_type: { String: [] } },
          { name: { some: 'none' }, algebraic_type: { Product: { elements: [] } } },
        ],
      },
    });
    expect(s.rows).toEqual([
      [1, 'apple', 5, 1.5, true, { '0': 'red' }],
      [2, "o'brien", -3, 0.25, false, { '1': [] }],
    ]);
    expect(s.total_duration_micros).toBeGreaterThanOrEqual(0);
  });

  test('a Timestamp column is a one-field product, its value a one-element array of micros', async () => {
    expect((await call('store_memory', ['general', 'k1', '{}', 'src', 'me', 3, ''])).status).toBe(200);
    const s = await sql('SELECT created_at FROM memory_entry');
    expect(s.schema.elements[0]?.algebraic_type).toEqual({
      Product: { elements: [{ name: { some: '__timestamp_micros_since_unix_epoch__' }, algebraic_type: { I64: [] } }] },
    });
    const [[ts]] = s.rows as [[[number]]];
    expect(Math.abs(ts[0] / 1000 - Date.now())).toBeLessThan(60_000);
  });

  test('column lists, aliases with and without AS, qualified and quoted names', async () => {
    const s = await sql('SELECT i.name AS n, qty q, "id" FROM item AS i WHERE i.id = 3');
    expect(names(s)).toEqual(['n', 'q', 'id']);
    expect(s.rows).toEqual([['cherry', 12, 3]]);
    expect((await sql('SELECT i.* FROM item i WHERE id = 4')).rows).toEqual([[4, 'Zebra', 0, 10, false, { '0': 'striped' }]]);
  });
});

describe('fake SpacetimeDB: WHERE, LIMIT, COUNT', () => {
  const ids = async (where: string) => (await sql(`SELECT id FROM item WHERE ${where}`)).rows.map((r) => r[0]);

  test('every comparison operator on integers, floats, strings and bools', async () => {
    expect(await ids('qty = 5')).toEqual([1]);
    expect(await ids('qty != 5')).toEqual([2, 3, 4]);
    expect(await ids('qty <> 5')).toEqual([2, 3, 4]);
    expect(await ids('qty < 0')).toEqual([2]);
    expect(await ids('qty > 5')).toEqual([3]);
    expect(await ids('qty <= 0')).toEqual([2, 4]);
    expect(await ids('qty >= -3')).toEqual([1, 2, 3, 4]);
    expect(await ids('price > 1.4')).toEqual([1, 3, 4]);
    expect(await ids('price = 1e1')).toEqual([4]);
    expect(await ids("name < 'b'")).toEqual([1, 4]);
    expect(await ids('active = true')).toEqual([1, 3]);
    expect(await ids('active')).toEqual([1, 3]);
    expect(await ids('false')).toEqual([]);
  });

  test('strings order by code point, as Rust compares them, not by UTF-16 unit', async () => {
    fake.tables.get('item')!.insert({ id: 5, name: '\u{1F680}', qty: 1, price: 1, active: true, note: null });
    fake.tables.get('item')!.insert({ id: 6, name: '\uFFFD', qty: 1, price: 1, active: true, note: null });
    expect(await ids("name > '\uFFFD'")).toEqual([5]);
    expect(await ids("name >= '\u{1F680}'")).toEqual([5]);
  });

  test("string literals double their quotes ('') and compare exactly", async () => {
    expect(await ids("name = 'o''brien'")).toEqual([2]);
    expect(await ids("name = 'o'")).toEqual([]);
    expect(await ids("name = 'zebra'")).toEqual([]);
  });

  test('AND binds tighter than OR; parentheses regroup; column = column', async () => {
    expect(await ids('id = 1 OR id = 2 AND qty > 0')).toEqual([1]);
    expect(await ids('(id = 1 OR id = 2) AND qty < 0')).toEqual([2]);
    expect(await ids('((qty > 0)) AND (active = true OR price > 100)')).toEqual([1, 3]);
    expect(await ids('qty = qty')).toEqual([1, 2, 3, 4]);
  });

  test('LIMIT cuts without ordering; COUNT(*) answers one row even when nothing matches', async () => {
    expect((await sql('SELECT id FROM item LIMIT 2')).rows).toEqual([[1], [2]]);
    expect((await sql('SELECT id FROM item WHERE qty > 0 LIMIT 0')).rows).toEqual([]);
    const c = await sql('SELECT COUNT(*) AS n FROM item WHERE active = true');
    expect(names(c)).toEqual(['n']);
    expect(c.schema.elements[0]?.algebraic_type).toEqual({ U64: [] });
    expect(c.rows).toEqual([[2]]);
    expect((await sql('select count(*) total from item where qty > 100;')).rows).toEqual([[0]]);
  });
});

describe('fake SpacetimeDB: what the real server refuses', () => {
  test('unknown names, in the real wording', async () => {
    expect(await errorOf('SELECT * FROM nope')).toBe('`nope` is not a valid table');
    expect(await errorOf('SELECT nope FROM item')).toBe('`item` does not have a field `nope`');
    expect(await errorOf('SELECT * FROM item i WHERE item.id = 1')).toBe('`item` is not in scope');
    expect(await errorOf('SELECT * FROM Item')).toBe('`Item` is not a valid table');
  });

  test('type errors: literal for the wrong type, out of range, Option comparison, literal vs literal', async () => {
    expect(await errorOf("SELECT * FROM item WHERE qty = '5'")).toContain('cannot be parsed as type `I32`');
    expect(await errorOf('SELECT * FROM item WHERE name = 5')).toContain('cannot be parsed as type `String`');
    expect(await errorOf('SELECT * FROM memory_entry WHERE importance = 256')).toContain('cannot be parsed as type `U8`');
    expect(await errorOf('SELECT * FROM item WHERE id = 1.5')).toContain('`U32`');
    expect(await errorOf("SELECT * FROM item WHERE note = 'red'")).toBe('Invalid binary operator `=` for type `Option<String>`');
    expect(await errorOf('SELECT * FROM item WHERE 1 = 1')).toBe('Cannot resolve type for literal expression');
    expect(await errorOf('SELECT * FROM item WHERE name')).toContain('(expected) Bool != String');
  });

  test('unsupported SQL: NOT, LIKE, IN, IS NULL, ORDER BY, OFFSET, DISTINCT, COUNT without alias, several statements', async () => {
    expect(await errorOf("SELECT * FROM item WHERE NOT name = 'a'")).toContain('Unsupported expression');
    expect(await errorOf("SELECT * FROM item WHERE name LIKE 'a%'")).toContain('Unsupported expression');
    expect(await errorOf('SELECT * FROM item WHERE id IN (1, 2)')).toContain('Unsupported expression');
    expect(await errorOf('SELECT * FROM item WHERE note IS NULL')).toContain('Unsupported expression');
    expect(await errorOf('SELECT * FROM item ORDER BY id')).toContain('Unsupported');
    expect(await errorOf('SELECT * FROM item LIMIT 1 OFFSET 1')).toContain('Unsupported');
    expect(await errorOf('SELECT DISTINCT name FROM item')).toContain('Unsupported');
    expect(await errorOf('SELECT COUNT(*) FROM item')).toBe('Aggregate expressions must have column aliases');
    expect(await errorOf('SELECT SUM(qty) AS s FROM item')).toContain('Unsupported aggregate');
    expect(await errorOf('SELECT *, id FROM item')).toBe('Mixed wildcard projections are not supported');
    expect(await errorOf('SELECT * FROM item; SELECT * FROM item')).toBe('Multiple SQL statements are not supported');
    expect(await errorOf('')).toBe('Empty SQL query');
    expect(await errorOf("SELECT * FROM item WHERE name = 'open")).toContain('Unterminated string literal');
    expect(await errorOf('DELETE FROM item')).toContain('Unsupported');
  });

  test('a quote inside a literal cannot end it: the attack is just a value that matches nothing', async () => {
    const before = JSON.stringify(fake.tables.get('item')!.rows);
    expect((await sql("SELECT id FROM item WHERE name = 'x'' OR ''1''=''1'")).rows).toEqual([]);
    expect((await sql("SELECT id FROM item WHERE name = '''; DELETE FROM item; --'")).rows).toEqual([]);
    expect(JSON.stringify(fake.tables.get('item')!.rows)).toBe(before);
  });
});

describe('fake SpacetimeDB: reducers and HTTP behaviour', () => {
  const memory = () => fake.tables.get('memory_entry')!.all();

  test('store_memory inserts, then upserts by key keeping id and created_at; delete_memory removes', async () => {
    expect(await call('store_memory', ['general', 'mem:a', '{"content":"one"}', 'api', 'astrojoe', 5, ''])).toEqual({ status: 200, text: '' });
    expect(await call('store_memory', ['general', 'mem:b', '{"content":"two"}', 'api', 'astrojoe', 6, 's1'])).toEqual({ status: 200, text: '' });
    const [a] = memory();
    expect(await call('store_memory', ['task', 'mem:a', '{"content":"uno"}', 'api', 'bob', 9, 's2'])).toEqual({ status: 200, text: '' });
    const rows = memory();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual({ ...a, category: 'task', value: '{"content":"uno"}', owner: 'bob', importance: 9, session_id: 's2' });
    expect((rows[1]?.id as number) > (a?.id as number)).toBe(true);
    expect(await call('delete_memory', ['mem:a'])).toEqual({ status: 200, text: '' });
    expect(await call('delete_memory', ['mem:none'])).toEqual({ status: 200, text: '' });
    expect(memory().map((r) => r.key)).toEqual(['mem:b']);
  });

  test('argument errors are 400, module refusals 530, and neither changes anything', async () => {
    const bad: unknown[][] = [['general', 'k'], ['general', 'k', '{}', 'api', 'me', 0.5, ''], ['general', 'k', '{}', 'api', 'me', 300, ''], ['general', 'k', '{}', 'api', null, 1, '']];
    for (const args of bad) expect((await call('store_memory', args)).status).toBe(400);
    expect((await call('store_memory', { not: 'an array' })).status).toBe(400);
    const refused = await call('store_memory', ['general', 'k', '{}', 'api', 'me', 11, '']);
    expect(refused).toEqual({ status: 530, text: 'importance must be 0..10, got 11' });
    expect(memory()).toEqual([]);
  });

  test('a reducer that fails after writing is rolled back whole', async () => {
    fake.defineReducer('insert_then_fail', {
      params: [{ name: 'key', type: 'String' }],
      run(ctx, args) {
        ctx.table('memory_entry').insert({ id: 0, category: 'x', key: args.key, value: '', source: '', owner: '', importance: 1, session_id: '', created_at: ctx.timestampMicros });
        throw new ReducerFailure('changed my mind');
      },
    });
    expect(await call('insert_then_fail', ['k'])).toEqual({ status: 530, text: 'changed my mind' });
    expect(memory()).toEqual([]);
  });

  test('content type must be exactly application/json; unknown reducer and database are 404', async () => {
    expect((await call('delete_memory', ['k'], 'text/plain')).status).toBe(415);
    expect((await call('delete_memory', ['k'], 'application/json; charset=utf-8')).status).toBe(415);
    expect(await call('no_such', [])).toEqual({ status: 404, text: 'No such reducer or procedure `no_such`' });
    expect(await sqlRaw('SELECT * FROM item', 'other-db')).toEqual({ status: 404, text: 'database name `other-db` not found' });
    expect((await sqlRaw('SELECT id FROM item LIMIT 1', fake.identity)).status).toBe(200);
  });

  test('ping, token check, forced status, hang, pause and resume', async () => {
    const guarded = startFakeSpacetime({ token: 'secret' });
    try {
      expect((await fetch(`${guarded.url}/v1/ping`)).status).toBe(401);
      expect((await fetch(`${guarded.url}/v1/ping`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${guarded.url}/v1/ping`, { headers: { authorization: 'Bearer secret' } })).status).toBe(200);
      guarded.behavior.statusOverride['/v1/ping'] = 503;
      expect((await fetch(`${guarded.url}/v1/ping`)).status).toBe(503);
      guarded.behavior.statusOverride = {};
      guarded.behavior.hang = true;
      await expect(fetch(`${guarded.url}/v1/ping`, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
      guarded.behavior.hang = false;
      await guarded.pause();
      await expect(fetch(`${guarded.url}/v1/ping`)).rejects.toThrow();
      guarded.resume();
      expect((await fetch(`${guarded.url}/v1/ping`, { headers: { authorization: 'Bearer secret' } })).status).toBe(200);
      expect(guarded.requests.at(-1)?.headers.authorization).toBe('Bearer secret');
    } finally {
      await guarded.stop();
    }
  });
});

import { afterAll, beforeEach, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { SpacetimeClient } from '../src/spacetime/client';
import { SpacetimeError, spacetimeToApiError, type SpacetimeErrorKind } from '../src/spacetime/errors';
import { literal } from '../src/spacetime/sql';
import { closedUrl } from './helpers/app';
import { ReducerFailure, startFakeSpacetime } from './fakes/spacetimedb';

const TOKEN = 'stdb-token-do-not-leak';
const fake = startFakeSpacetime({ token: TOKEN });
afterAll(() => fake.stop());

const client = (over: Partial<{ db: string; token: string | null; timeoutMs: number; url: string }> = {}) =>
  new SpacetimeClient({ url: `${fake.url}/`, db: fake.db, token: TOKEN, timeoutMs: 2000, ...over });

async function failure(p: Promise<unknown>): Promise<SpacetimeError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SpacetimeError);
    return err as SpacetimeError;
  }
  throw new Error('expected a SpacetimeError');
}

async function kindOf(p: Promise<unknown>): Promise<SpacetimeErrorKind> {
  return (await failure(p)).kind;
}

const store = (key: string, value: unknown, importance = 5, category = 'general') =>
  client().call('store_memory', [category, key, JSON.stringify(value), 'hermes-optx-api', 'astrojoe', importance, '']);

beforeEach(() => {
  fake.tables.get('memory_entry')!.rows = [];
  fake.requests.length = 0;
  Object.assign(fake.behavior, { hang: false, delayMs: 0, failReducer: null, statusOverride: {}, sqlBody: null });
});

describe('SpacetimeClient.sql', () => {
  test('decodes rows by the returned schema: columns by name, Timestamp as micros', async () => {
    await store('mem:a', { content: 'hello' }, 7);
    const rows = await client().sql("SELECT id, key, value, importance, created_at FROM memory_entry WHERE key = 'mem:a'");
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({ id: 1, key: 'mem:a', value: '{"content":"hello"}', importance: 7 });
    expect(Math.abs((row?.created_at as number) / 1000 - Date.now())).toBeLessThan(60_000);
    expect(await client().sql('SELECT COUNT(*) AS n FROM memory_entry', { confirmed: true })).toEqual([{ n: 1 }]);
    expect(fake.requests.at(-1)).toMatchObject({ method: 'POST', path: '/v1/database/optx-cortex/sql', search: '?confirmed=true', body: 'SELECT COUNT(*) AS n FROM memory_entry' });
  });

  test('Option columns unwrap to the value or null', async () => {
    fake.defineTable('profile', [
      { name: 'name', type: 'String' },
      { name: 'nick', type: 'Option<String>' },
      { name: 'age', type: 'Option<U8>' },
      { name: 'seen', type: 'Option<Timestamp>' },
    ]);
    fake.tables.get('profile')!.insert({ name: 'a', nick: 'ace', age: 30, seen: 1_700_000_000_000_000 });
    fake.tables.get('profile')!.insert({ name: 'b', nick: null, age: null, seen: null });
    expect(await client().sql('SELECT * FROM profile')).toEqual([
      { name: 'a', nick: 'ace', age: 30, seen: 1_700_000_000_000_000 },
      { name: 'b', nick: null, age: null, seen: null },
    ]);
  });

  test('also reads the named form of sums, enums, nested products, arrays and byte strings', async () => {
    const schema = {
      elements: [
        { name: { some: 'opt' }, algebraic_type: { Sum: { variants: [{ name: { some: 'some' }, algebraic_type: { String: [] } }, { name: { some: 'none' }, algebraic_type: { Product: { elements: [] } } }] } } },
        { name: { some: 'status' }, algebraic_type: { Sum: { variants: [{ name: { some: 'Open' }, algebraic_type: { Product: { elements: [] } } }, { name: { some: 'Done' }, algebraic_type: { Product: { elements: [] } } }] } } },
        { name: { some: 'shape' }, algebraic_type: { Sum: { variants: [{ name: { some: 'Circle' }, algebraic_type: { F64: [] } }, { name: { some: 'Square' }, algebraic_type: { U32: [] } }] } } },
        { name: { some: 'pos' }, algebraic_type: { Product: { elements: [{ name: { some: 'x' }, algebraic_type: { I32: [] } }, { name: { some: 'y' }, algebraic_type: { I32: [] } }] } } },
        { name: { some: 'tags' }, algebraic_type: { Array: { String: [] } } },
        { name: { some: 'blob' }, algebraic_type: { Array: { U8: [] } } },
        { name: { none: [] }, algebraic_type: { Bool: [] } },
      ],
    };
    fake.behavior.sqlBody = JSON.stringify([
      { schema, rows: [[{ some: 'x' }, { '1': [] }, { Square: 4 }, [1, -2], ['a', 'b'], 'c0ffee', true], [{ none: [] }, { Open: [] }, { '0': 0.5 }, { x: 3, y: 4 }, [], '', false]], total_duration_micros: 10 },
    ]);
    expect(await client().sql('SELECT anything')).toEqual([
      { opt: 'x', status: 'Done', shape: { Square: 4 }, pos: { x: 1, y: -2 }, tags: ['a', 'b'], blob: 'c0ffee', 'column 6': true },
      { opt: null, status: 'Open', shape: { Circle: 0.5 }, pos: { x: 3, y: 4 }, tags: [], blob: '', 'column 6': false },
    ]);
  });

  test('payloads that do not match the wire format are bad_response', async () => {
    const u64 = { elements: [{ name: { some: 'id' }, algebraic_type: { U64: [] } }] };
    const bodies = [
      'not json',
      '{"schema": {}}',
      '[]',
      JSON.stringify([{ schema: u64, rows: [], total_duration_micros: 1 }, { schema: u64, rows: [], total_duration_micros: 1 }]),
      JSON.stringify([{ schema: { elements: [{ name: { some: 'x' }, algebraic_type: { Nope: [] } }] }, rows: [], total_duration_micros: 1 }]),
      JSON.stringify([{ schema: u64, rows: [[1, 2]], total_duration_micros: 1 }]),
      JSON.stringify([{ schema: u64, rows: [['1']], total_duration_micros: 1 }]),
      // 2^53 + 1 cannot be read exactly by JSON.parse: refused, not rounded.
      `[{"schema": ${JSON.stringify(u64)}, "rows": [[9007199254740993]], "total_duration_micros": 1}]`,
    ];
    for (const body of bodies) {
      fake.behavior.sqlBody = body;
      expect(await kindOf(client().sql('SELECT id FROM t'))).toBe('bad_response');
    }
  });

  test('a statement the server refuses is sql_error with its message', async () => {
    const err = await failure(client().sql('SELECT * FROM nowhere'));
    expect(err.kind).toBe('sql_error');
    expect(err.status).toBe(400);
    expect(err.serverMessage).toBe('`nowhere` is not a valid table');
    expect(spacetimeToApiError(err).status).toBe(502);
  });
});

describe('SpacetimeClient.call', () => {
  test('sends a JSON array with Content-Type application/json and the bearer token', async () => {
    await store('mem:z', { content: 'x' });
    const req = fake.requests.find((r) => r.path === '/v1/database/optx-cortex/call/store_memory');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(req?.body ?? '')).toEqual(['general', 'mem:z', '{"content":"x"}', 'hermes-optx-api', 'astrojoe', 5, '']);
    expect((await client().sql("SELECT key FROM memory_entry WHERE key = 'mem:z'")).length).toBe(1);
  });

  test('a 2xx other than the empty answer of a committed call (an HTML page, any body) is bad_response', async () => {
    const answers: [string, string, SpacetimeErrorKind | null][] = [
      ['text/html; charset=utf-8', '<html><body>Welcome to the hotel network</body></html>', 'bad_response'],
      ['text/html', '', 'bad_response'],
      ['application/json', '{"ok":true}', 'bad_response'],
      // What SpacetimeDB sends for a committed reducer call (axum's empty string body).
      ['text/plain; charset=utf-8', '', null],
    ];
    for (const [type, body, kind] of answers) {
      const host = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response(body, { headers: { 'content-type': type } }) });
      try {
        const call = client({ url: `http://127.0.0.1:${host.port}` }).call('delete_memory', ['k']);
        if (kind === null) await call;
        else expect([type, await kindOf(call)]).toEqual([type, kind]);
      } finally {
        await host.stop(true);
      }
    }
    expect(spacetimeToApiError(new SpacetimeError('bad_response', 'x'))).toMatchObject({ status: 502, code: 'spacetimedb_bad_response' });
  });

  test('a reducer error is reducer_failed with the module message, and nothing is written', async () => {
    const err = await failure(store('mem:a', {}, 11));
    expect(err).toMatchObject({ kind: 'reducer_failed', status: 530, serverMessage: 'importance must be 0..10, got 11' });
    fake.behavior.failReducer = 'delete_memory';
    fake.behavior.failMessage = 'module says no';
    expect((await failure(client().call('delete_memory', ['k']))).serverMessage).toBe('module says no');
    expect(fake.tables.get('memory_entry')!.rows).toEqual([]);
  });

  test('unknown database or reducer is not_found; undecodable arguments are bad_request', async () => {
    expect(await kindOf(client({ db: 'no-such-db' }).call('store_memory', []))).toBe('not_found');
    expect(await kindOf(client({ db: 'no-such-db' }).sql('SELECT * FROM memory_entry'))).toBe('not_found');
    expect(await kindOf(client().call('no_such_reducer', []))).toBe('not_found');
    expect(await kindOf(client().call('store_memory', ['only one']))).toBe('bad_request');
  });

  test('values JSON cannot carry are refused before anything is sent', async () => {
    for (const bad of [[Number.NaN], [Number.POSITIVE_INFINITY], [undefined], [{ n: 1n }], [new Date()]]) {
      expect(await kindOf(client().call('delete_memory', bad))).toBe('invalid_value');
    }
    expect(fake.requests).toHaveLength(0);
  });

  test('reducers are serialised transactions: of many concurrent compare-and-set calls exactly one wins', async () => {
    // A compare-and-set reducer of the kind a shared task queue needs (see docs/spacetimedb.md).
    fake.defineReducer('cas_memory', {
      params: [{ name: 'key', type: 'String' }, { name: 'expected', type: 'String' }, { name: 'value', type: 'String' }],
      run(ctx, args) {
        const table = ctx.table('memory_entry');
        const row = table.find('key', args.key);
        if (!row || row.value !== args.expected) throw new ReducerFailure(`conflict: ${String(args.key)} changed`);
        table.update('key', args.key, { value: args.value });
      },
    });
    await store('task:1', { status: 'Open' });
    const open = JSON.stringify({ status: 'Open' });
    fake.behavior.delayMs = 20;
    const agents = Array.from({ length: 12 }, (_, i) => `agent-${i}`);
    const outcomes = await Promise.allSettled(agents.map((a) => client().call('cas_memory', ['task:1', open, JSON.stringify({ status: 'InProgress', agent: a })])));
    const winners = agents.filter((_, i) => outcomes[i]?.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect((o.reason as SpacetimeError).kind).toBe('reducer_failed');
    const [row] = await client().sql("SELECT value FROM memory_entry WHERE key = 'task:1'");
    expect(JSON.parse(row?.value as string)).toEqual({ status: 'InProgress', agent: winners[0] });
  });
});

describe('SpacetimeClient: auth, timeouts, reachability', () => {
  test('a missing or wrong token is unauthorized, and the token never appears in an error', async () => {
    expect(await kindOf(client({ token: null }).sql('SELECT * FROM memory_entry'))).toBe('unauthorized');
    const err = await failure(client({ token: 'wrong' }).call('delete_memory', ['k']));
    expect(err.kind).toBe('unauthorized');
    fake.behavior.statusOverride['/v1/database/optx-cortex/sql'] = 403;
    expect(await kindOf(client().sql('SELECT * FROM memory_entry'))).toBe('unauthorized');
    expect(fake.requests.find((r) => !r.headers.authorization)).toBeDefined();
    const api = spacetimeToApiError(err);
    for (const text of [err.message, String(err.serverMessage), api.detail]) expect(text).not.toContain(TOKEN);
  });

  test('other statuses are server_error', async () => {
    fake.behavior.statusOverride['/v1/database/optx-cortex/call/delete_memory'] = 502;
    expect(await kindOf(client().call('delete_memory', ['k']))).toBe('server_error');
  });

  test('a hanging server is a timeout for sql, call and ping, never a hang', async () => {
    fake.behavior.hang = true;
    const c = client({ timeoutMs: 150 });
    expect(await kindOf(c.sql('SELECT * FROM memory_entry'))).toBe('timeout');
    expect(await kindOf(c.call('delete_memory', ['k']))).toBe('timeout');
    const ping = await c.ping();
    expect(ping.ok).toBe(false);
    if (!ping.ok) expect(ping.error.kind).toBe('timeout');
    expect(spacetimeToApiError(new SpacetimeError('timeout', 'x')).status).toBe(504);
  });

  test('a server that is down is unreachable, and the client works again once it is back', async () => {
    await fake.pause();
    try {
      expect(await kindOf(client().sql('SELECT * FROM memory_entry'))).toBe('unreachable');
      expect(await kindOf(client().call('delete_memory', ['k']))).toBe('unreachable');
      const ping = await client().ping();
      expect(ping.ok ? null : ping.error.kind).toBe('unreachable');
      expect(spacetimeToApiError(ping.ok ? null : ping.error)).toMatchObject({ status: 503, code: 'spacetimedb_unreachable' });
    } finally {
      fake.resume();
    }
    expect((await client().ping()).ok).toBe(true);
    expect(await kindOf(client({ url: await closedUrl() }).sql('SELECT 1'))).toBe('unreachable');
  });
});

describe('SQL literals', () => {
  test('strings are single-quoted with quotes doubled; numbers and booleans are bare', () => {
    expect(literal("what's up-to")).toBe("'what''s up-to'");
    expect(literal("'")).toBe("''''");
    expect(literal('')).toBe("''");
    expect(literal('line\nbreak\ttab ✓ 🚀')).toBe("'line\nbreak\ttab ✓ 🚀'");
    expect(literal(42)).toBe('42');
    expect(literal(-3.5)).toBe('-3.5');
    expect(literal(1e-7)).toBe('1.0e-7');
    expect(literal(-0)).toBe('0');
    expect(literal(true)).toBe('true');
  });

  test('values that cannot be literals are invalid_value (422 for a route)', () => {
    for (const bad of ['nul\u0000byte', 'esc\u001b[0m', 'lone \ud800 surrogate', Number.NaN, Number.POSITIVE_INFINITY]) {
      let kind: string | null = null;
      try {
        literal(bad);
      } catch (err) {
        kind = (err as SpacetimeError).kind;
        expect(spacetimeToApiError(err).status).toBe(422);
      }
      expect(kind).toBe('invalid_value');
    }
  });

  test('an injection attempt in a value cannot change the query: it matches only itself', async () => {
    await store('mem:1', { content: 'one' });
    await store('mem:2', { content: 'two' });
    const attacks = ["x' OR '1'='1", "'; DELETE FROM memory_entry; --", "mem:1' OR key <> '", "\\' OR 1=1 --", "mem:1'--"];
    for (const attack of attacks) {
      expect(await client().sql(`SELECT key FROM memory_entry WHERE key = ${literal(attack)}`)).toEqual([]);
    }
    expect((await client().sql('SELECT COUNT(*) AS n FROM memory_entry'))[0]?.n).toBe(2);
  });

  test('any string stored as a key is found again by an equality on its literal, and only it', async () => {
    // SQL's own punctuation is over-represented so quotes, comments and separators show up in most runs.
    const sqlish = fc.string({ unit: fc.constantFrom("'", "''", '"', ';', '--', '/*', '\\', ' ', '\n', '=', 'OR', 'a', '✓', '🚀'), minLength: 1, maxLength: 12 });
    const keys = fc
      .oneof(sqlish, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }))
      .filter((s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s) && s !== 'mem:other');
    await store('mem:other', { content: 'decoy' });
    await fc.assert(
      fc.asyncProperty(keys, async (key) => {
        await store(key, { content: 'p' });
        const rows = await client().sql(`SELECT key FROM memory_entry WHERE key = ${literal(key)}`);
        await client().call('delete_memory', [key]);
        expect(rows).toEqual([{ key }]);
      }),
      { numRuns: 60 },
    );
  });
});

/**
 * MEMORY_BACKEND=holographic: a page and its `total` come from one snapshot of the agent's file,
 * while the agent (another process) commits facts at any moment.
 */
import { afterEach, expect, test } from 'bun:test';
import { Database, type Statement } from 'bun:sqlite';
import { agentAddFact, openAsAgent } from './fakes/hermes-memory-agent';
import { makeTestApp, memoryDbPath, type TestApp } from './helpers/app';

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});

type Page = { memories?: unknown[]; results?: unknown[]; total: number };

test('a page and its total are one snapshot: a fact the agent commits between the two reads is in both or neither', async () => {
  type Query = (this: Database, sql: string) => Statement;
  const proto = Database.prototype as unknown as { query: Query };
  const original = proto.query;
  let agent: Database | undefined;
  let n = 0;
  const wrapped = new WeakSet<Statement>();
  // Right after this process read a page (or, on the substring path, scanned the facts), the agent
  // commits a fact, as it could at any moment. The backend asks `query` per request (bun:sqlite
  // caches the statement), so each is wrapped once.
  proto.query = function (this: Database, sql: string) {
    const st = original.call(this, sql);
    if (this === agent || !/order by|materialized/i.test(sql) || wrapped.has(st)) return st;
    wrapped.add(st);
    for (const k of ['all', 'values'] as const) {
      const read = st[k].bind(st) as (...a: unknown[]) => unknown;
      (st as unknown as Record<typeof k, (...a: unknown[]) => unknown>)[k] = (...a: unknown[]) => {
        const res = read(...a);
        if (agent) {
          n++;
          agentAddFact(agent, { content: `theirs zebra 渋谷 ${n}`, tags: 'x' });
        }
        return res;
      };
    }
    // The substring scan steps its rows (iterate): the agent commits once they are all read.
    const iterate = st.iterate.bind(st) as (...a: unknown[]) => Iterable<unknown>;
    (st as unknown as { iterate: (...a: unknown[]) => Iterable<unknown> }).iterate = function* (...a: unknown[]) {
      yield* iterate(...a);
      if (agent) {
        n++;
        agentAddFact(agent, { content: `theirs zebra 渋谷 ${n}`, tags: 'x' });
      }
    };
    return st;
  };
  try {
    const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic' } });
    apps.push(t);
    await t.json('POST', '/api/memory', { content: 'ours zebra 渋谷区', tags: ['x'] });
    agent = openAsAgent(memoryDbPath(t));
    const shapes: [string, string, unknown][] = [
      ['GET', '/api/memory?limit=100', undefined],
      ['GET', '/api/memory?limit=100&category=general', undefined],
      ['POST', '/api/memory/search', { query: '', limit: 100, filters: { tags: ['x'] } }],
      ['POST', '/api/memory/search', { query: 'zebra', limit: 100 }],
      ['POST', '/api/memory/search', { query: 'zebra', limit: 100, filters: { tags: ['x'] } }],
      // A CJK word inside a run: the substring path.
      ['POST', '/api/memory/search', { query: '渋谷', limit: 100 }],
    ];
    const gaps: number[] = [];
    for (const [method, path, body] of shapes) {
      const before = n;
      const p = (await t.json<Page>(method, path, body)).body;
      expect(n).toBeGreaterThan(before);
      gaps.push(p.total - (p.memories ?? p.results ?? []).length);
    }
    expect(gaps).toEqual([0, 0, 0, 0, 0, 0]);
  } finally {
    proto.query = original;
    agent?.close();
  }
});

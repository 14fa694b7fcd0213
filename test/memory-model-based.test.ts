/**
 * Model-based test of the memory store on the sqlite backend (SPEC §9, docs/memory.md): random
 * sequences of creates (duplicates, padded content, repeated tags), deletes, lists, searches with
 * filters, recalls and concurrent groups, against a plain model of contents, categories, tags and
 * importance. Lists, stats and the empty-query search must equal the model's exactly; a word
 * search must find exactly the memories holding the word (its order is bm25's, checked as sorted by score).
 */
import { afterAll, expect, test } from 'bun:test';
import fc from 'fast-check';
import { startFakeSpacetime } from './fakes/spacetimedb';
import { makeTestApp, type TestApp } from './helpers/app';
import { modelParams, modelTimeout, permutations } from './helpers/model';

type Json = Record<string, any>;
const WORDS = ['apple', 'banana', 'cherry', 'delta', 'echo', 'falcon'];
const TAGS = ['red', 'green', 'blue'];

interface M { id: string; seq: number; content: string; category: string; tags: string[]; importance: number; created: string }
type Model = { items: M[]; seq: number };

type Create = { kind: 'create'; words: number[]; pad: boolean; category: string; tags: string[]; importance: number };
/** `id`: the memory picked, fixed before the command is sent (null: an id nobody has). */
type Delete = { kind: 'delete'; pick: number; id?: string | null };
type Cmd = Create | Delete
  | { kind: 'list'; category: string | null; limit: number; offset: number }
  | { kind: 'search'; word: string | null; category: string | null; tags: string[]; min: number | null; since: number | null; limit: number; recall: boolean }
  | { kind: 'race'; ops: (Create | Delete)[] };

const MAX_PICK = 20;
const pick = fc.nat({ max: MAX_PICK });
const create = fc.record({
  kind: fc.constant('create' as const), words: fc.uniqueArray(fc.nat({ max: WORDS.length - 1 }), { minLength: 1, maxLength: 2 }), pad: fc.boolean(),
  category: fc.constantFrom('general', 'work', ' work '), tags: fc.array(fc.constantFrom(...TAGS, ' red '), { maxLength: 3 }), importance: fc.constantFrom(0, 0.3, 0.5, 1),
});
const del = fc.record({ kind: fc.constant('delete' as const), pick });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 5, arbitrary: create },
  { weight: 2, arbitrary: del },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('list' as const), category: fc.constantFrom(null, 'general', 'work'), limit: fc.integer({ min: 1, max: 4 }), offset: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 4, arbitrary: fc.record({
    kind: fc.constant('search' as const), word: fc.constantFrom(null, ...WORDS, ...TAGS), category: fc.constantFrom(null, 'work'), tags: fc.subarray(TAGS, { maxLength: 2 }),
    min: fc.constantFrom(null, 0.3, 1), since: fc.option(pick), limit: fc.integer({ min: 1, max: 5 }), recall: fc.boolean(),
  }) },
  { weight: 2, arbitrary: fc.array(fc.oneof(create, del), { minLength: 2, maxLength: 3 }).map((ops) => ({ kind: 'race' as const, ops })) },
);

const contentOf = (c: Create) => c.words.map((w) => WORDS[w]).join(' ');
const target = (m: Model, p: number) => (p === MAX_PICK ? null : m.items[p % Math.max(1, m.items.length)] ?? null);
const view = (x: M) => ({ id: x.id, content: x.content, category: x.category, tags: x.tags, importance: x.importance, metadata: {}, created_at: x.created, updated_at: x.created });
const newest = (a: M, b: M) => b.seq - a.seq;

/** The model's answer to a write (status, and for a duplicate the id it must return); applies it. */
function step(m: Model, op: Create | Delete, created?: Json): { status: number; id?: string } {
  if (op.kind === 'delete') {
    const x = m.items.find((y) => y.id === op.id);
    if (!x) return { status: 404 };
    m.items = m.items.filter((y) => y !== x);
    return { status: 200, id: x.id };
  }
  const dup = m.items.find((x) => x.content === contentOf(op));
  if (dup) return { status: 200, id: dup.id };
  if (created) m.items.push({ id: created.id, seq: m.seq++, content: contentOf(op), category: op.category.trim(), tags: [...new Set(op.tags.map((t) => t.trim()))], importance: op.importance, created: created.created_at });
  return { status: 201, ...(created ? { id: created.id } : {}) };
}

const resolve = (m: Model, op: Create | Delete): Create | Delete => (op.kind === 'delete' ? { ...op, id: target(m, op.pick)?.id ?? null } : op);

function send(app: TestApp, op: Create | Delete) {
  if (op.kind === 'delete') return app.json<Json>('DELETE', `/api/memory/${op.id ?? 'mem_nobody'}`);
  const content = op.pad ? `  ${contentOf(op)}\n` : contentOf(op);
  return app.json<Json>('POST', '/api/memory', { content, category: op.category, tags: op.tags, importance: op.importance });
}
const idOf = (r: { body: Json }): string | undefined => r.body.memory?.id ?? r.body.memory_id;
const answer = (r: { status: number; body: Json }): ReturnType<typeof step> => ({ status: r.status, ...(idOf(r) ? { id: idOf(r) } : {}) });

async function check(app: TestApp, m: Model, backend: string) {
  const all = (await app.json<Json>('GET', '/api/memory?limit=1000')).body;
  expect(all).toEqual({ memories: [...m.items].sort(newest).map(view), total: m.items.length, limit: 1000, offset: 0, backend });
  const stats = (await app.json<Json>('GET', '/api/memory/stats')).body;
  const categories: Record<string, number> = {};
  for (const x of m.items) categories[x.category] = (categories[x.category] ?? 0) + 1;
  expect({ total: stats.total_memories, categories: stats.categories }).toEqual({ total: m.items.length, categories });
}

async function run(app: TestApp, backend: string, cmds: Cmd[]) {
  const m: Model = { items: [], seq: 0 };
  for (const c of cmds) {
    if (c.kind === 'create' || c.kind === 'delete') {
      const op = resolve(m, c);
      const r = await send(app, op);
      expect(answer(r)).toEqual(step(m, op, r.body.memory));
    } else if (c.kind === 'list') {
      const q = new URLSearchParams({ limit: String(c.limit), offset: String(c.offset), ...(c.category ? { category: c.category } : {}) });
      const match = m.items.filter((x) => !c.category || x.category === c.category).sort(newest);
      const r = (await app.json<Json>('GET', `/api/memory?${q}`)).body;
      expect({ ids: r.memories.map((x: Json) => x.id), total: r.total }).toEqual({ ids: match.slice(c.offset, c.offset + c.limit).map((x) => x.id), total: match.length });
    } else if (c.kind === 'search') {
      const since = c.since === null ? null : target(m, c.since)?.created ?? null;
      // Recall takes only a category; search every filter.
      const f = c.recall ? { category: c.category } : { category: c.category, tags: c.tags, min: c.min, since };
      const match = m.items.filter((x) => (!f.category || x.category === f.category) && (f.tags ?? []).every((t) => x.tags.includes(t))
        && (f.min == null || x.importance >= f.min) && (!f.since || x.created >= f.since)
        && (c.word === null || x.content.split(' ').includes(c.word) || x.tags.includes(c.word)));
      let results: Json[];
      if (c.recall) {
        if (c.word === null) continue;
        const q = new URLSearchParams({ query: c.word, limit: String(c.limit), ...(c.category ? { category: c.category } : {}) });
        results = (await app.json<Json>('GET', `/api/memory/recall?${q}`)).body.results;
      } else {
        const filters = { ...(c.category ? { category: c.category } : {}), ...(c.tags.length ? { tags: c.tags } : {}), ...(c.min !== null ? { min_importance: c.min } : {}), ...(since ? { since } : {}) };
        const r = (await app.json<Json>('POST', '/api/memory/search', { query: c.word ?? '', limit: c.limit, filters })).body;
        expect(r.total).toBe(match.length);
        results = r.results;
      }
      const ids = results.map((x) => x.id);
      if (c.word === null) {
        // An empty query lists by importance, highest first (newest first among equals), score = importance.
        const want = match.sort((a, b) => b.importance - a.importance || b.seq - a.seq).slice(0, c.limit);
        expect(results.map((x) => [x.id, x.score])).toEqual(want.map((x) => [x.id, x.importance]));
      } else {
        expect(ids.length).toBe(Math.min(c.limit, match.length));
        for (const id of ids) expect(match.map((x) => x.id)).toContain(id);
        const scores = results.map((x) => x.score as number);
        expect(scores).toEqual([...scores].sort((a, b) => b - a));
      }
    } else {
      // Concurrent writes: answers of one serial order (creates of one content: exactly one 201).
      const before = structuredClone(m);
      const ops = c.ops.map((op) => resolve(m, op));
      const rs = await Promise.all(ops.map((op) => send(app, op)));
      const order = rs.map((r, k) => ({ r, k, op: ops[k] as Create | Delete }));
      // Serial orders are tried with the creates' answers (their ids) known. Several can fit (two
      // creates of different contents), differing in which memory is newer: the list tells.
      const trials = permutations(order).flatMap((o) => {
        const trial = structuredClone(before);
        return o.every(({ r, op }) => JSON.stringify(step(trial, op, r.status === 201 ? r.body.memory : undefined)) === JSON.stringify(answer(r))) ? [trial] : [];
      });
      const listed = JSON.stringify((await app.json<Json>('GET', '/api/memory?limit=1000')).body.memories.map((x: Json) => x.id));
      const fit = trials.find((t) => JSON.stringify([...t.items].sort(newest).map((x) => x.id)) === listed);
      expect(fit ? 'serial' : { answers: rs.map(answer), serialOrders: trials.length }).toBe('serial');
      Object.assign(m, fit);
    }
    await check(app, m, backend);
  }
}

const spacetime = startFakeSpacetime();
afterAll(() => spacetime.stop());

for (const backend of ['sqlite', 'spacetimedb'] as const) test(`memory on ${backend}: every sequence of commands keeps the app equal to the model`, async () => {
  const cmds = fc.tuple(fc.array(create, { minLength: 2, maxLength: 4 }), fc.array(cmd, { minLength: 1, maxLength: 40, size: 'max' })).map(([a, b]) => [...a, ...b]);
  await fc.assert(fc.asyncProperty(cmds, async (cmds) => {
    (spacetime.tables.get('memory_entry') as { rows: unknown[] }).rows = [];
    const stdb = { MEMORY_DB_URL: spacetime.url, SPACETIMEDB_DB: spacetime.db, SPACETIMEDB_TIMEOUT_S: '2' };
    const app = await makeTestApp({ env: { MEMORY_BACKEND: backend, ...(backend === 'spacetimedb' ? stdb : {}) } });
    try {
      await run(app, backend, cmds);
    } finally {
      app.close();
    }
  }), modelParams(8));
}, modelTimeout(120_000, 8));

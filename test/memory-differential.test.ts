/**
 * The three memory backends side by side: the same random sequences of adds, lists, searches,
 * recalls, deletes and stats against holographic, sqlite and spacetimedb (the fake host), and every
 * answer compared once the documented differences are taken out (docs/memory.md): ids, scores and
 * the order of equally relevant results; holographic's whole-second timestamps. Importances are
 * tenths ≥ 0.3 (SpacetimeDB keeps tenths; holographic's search floor is 0.3), so what one backend
 * finds, counts, filters or lists the others must too.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import fc from 'fast-check';
import { startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { makeTestApp, type TestApp } from './helpers/app';

type Memory = { id: string; content: string; category: string; tags: string[]; importance: number; metadata: Record<string, unknown>; created_at: string; updated_at: string; score?: number };
type Answer = { status: number; body: Record<string, unknown> };

const BACKENDS = ['holographic', 'sqlite', 'spacetimedb'] as const;
const apps: TestApp[] = [];
let fake: FakeSpacetime;

beforeAll(async () => {
  fake = startFakeSpacetime();
  for (const backend of BACKENDS) {
    const env: Record<string, string> = { MEMORY_BACKEND: backend };
    if (backend === 'spacetimedb') Object.assign(env, { MEMORY_DB_URL: fake.url, SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '5' });
    apps.push(await makeTestApp({ env }));
  }
});
afterAll(async () => {
  for (const t of apps) t.close();
  await fake.stop();
});

// Words the three text matchers must agree on: plain, punctuated, accented, other scripts, digits.
const WORDS = ['redis', 'staging', 'port', 'deploy', 'Tuesday', "what's", 'up-to', 'café', 'naïve', 'Zürich', '東京', 'Москва', 'v2.1', '6379', 'emoji🎉', 'alpha_beta', 'Bob', 'aka', 'Robert', '"quoted text"',
  'Οδυσσευς', 'Ὀδυσσεύς', 'कष', 'क्षि', '𞤀𞤣', '𞤢𞤣', 'ǖ', 'u', 'cafe\u0301', 'İstanbul', 'straße', 'STRASSE', 'ﬁle', 'ＡＢＣ', 'Ǆemal', 'ǅ', 'x\u0000y', 'a\u200bb', 'ΣΊΣΥΦΟΣ', 'σίσυφος', 'ὈΔΥΣΣΕΎΣ', '𝐀𝐁', 'ᏣᎳᎩ', '①②', '½', 'Ⅻ', 'x\u00adz', 'ϐ', 'ﬀ', 'ǰ', 'Ꞵ', 'ꞵ', 'क्षि', 'ไทย', '한국어', 'ー', 'ｶﾀｶﾅ', 'Ⓐ', 'ⓐ', '🇫🇷', 'x\u0301', 'ø', 'Ø', 'đ', 'ł', 'Ł', 'æ', 'ĳ', 'ŉ', 'ſ'];
const CATEGORIES = ['general', 'infra', 'user_pref', ' infra ', 'Ünïcode', '🎉'];
const TAGS = ['a', 'b', ' c ', 'staging', 'ü', 'x y', '🎉', '\u3000d\u3000', 'B', 'redis'];
const SPACES = ['', ' ', '\n', '\t', '\u00a0', '\u2003', '\u3000'];

const content = fc.oneof({ weight: 9, arbitrary: fc
  .tuple(fc.constantFrom(...SPACES), fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 6 }), fc.constantFrom(...SPACES), fc.nat(3))
  .map(([pre, words, post, n]) => `${pre}${words.join(' ')} ${n}${post}`) },
  // Blank in Python's eyes (U+001C, U+0085 included), too long, or exactly the longest.
  { weight: 1, arbitrary: fc.constantFrom(' \u001c\u0085\u3000', '', 'x'.repeat(65_537), `${'🎉'.repeat(10)}${'y'.repeat(65_526)}`, '\ufeff') });
const tenths = (min: number) => fc.integer({ min, max: 10 }).map((n) => n / 10);
const times = fc.constantFrom('2000-01-01', '2099-12-31', '2000-01-01T00:00:00Z', '2099-12-31T23:59:59+05:00', '9999-12-31T23:00:00-05:00', '0000-01-01T00:30:00+01:00', '9999-12-31');

const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('add' as const), content, category: fc.option(fc.constantFrom(...CATEGORIES), { nil: undefined }), tags: fc.option(fc.uniqueArray(fc.constantFrom(...TAGS), { maxLength: 3 }), { nil: undefined }), importance: fc.option(tenths(3), { nil: undefined }), metadata: fc.option(fc.dictionary(fc.constantFrom('k', 'ü', '🎉'), fc.oneof(fc.string(), fc.integer(), fc.boolean())), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('list' as const), category: fc.option(fc.constantFrom(...CATEGORIES), { nil: undefined }), limit: fc.integer({ min: 1, max: 5 }), offset: fc.nat(4) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('search' as const), query: fc.oneof(fc.constant(''), fc.array(fc.constantFrom(...WORDS, 'the', 'zzz'), { minLength: 1, maxLength: 3 }).map((w) => w.join(' '))), limit: fc.constant(100), filters: fc.option(fc.record({ category: fc.constantFrom(...CATEGORIES), tags: fc.uniqueArray(fc.constantFrom(...TAGS), { maxLength: 2 }), min_importance: tenths(0), since: times, until: times }, { requiredKeys: [] }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('recall' as const), query: fc.constantFrom(...WORDS), category: fc.option(fc.constantFrom(...CATEGORIES), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stats' as const) }) },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

/** What every backend must answer alike: no ids, scores, timestamps; unordered where ranking may differ. */
function comparable(o: Op, a: Answer): unknown {
  const b = a.body;
  const plain = (m: Memory) => ({ content: m.content, category: m.category, tags: m.tags, importance: m.importance, metadata: m.metadata });
  if (a.status >= 300) return { status: a.status, code: (b as { code?: unknown }).code };
  switch (o.kind) {
    case 'add':
      return { status: a.status, duplicate: b.duplicate, memory: plain(b.memory as Memory) };
    case 'list':
      return { total: b.total, memories: (b.memories as Memory[]).map(plain) };
    case 'search':
    case 'recall':
      // Ranking differs by design; every match fits in the limit, so the sets must agree.
      return { total: b.total, results: (b.results as Memory[]).map((m) => m.content).sort() };
    case 'delete':
      return { status: a.status };
    case 'stats':
      return { total: b.total_memories, categories: b.categories };
  }
}

/** Per-backend id of each stored content, to delete the same memory everywhere. */
async function run(t: TestApp, o: Op, ids: Map<string, string>): Promise<Answer> {
  switch (o.kind) {
    case 'add': {
      const { kind: _k, ...body } = o;
      const r = await t.json('POST', '/api/memory', body);
      if (r.status < 300) ids.set((r.body.memory as Memory).content, (r.body.memory as Memory).id);
      return r;
    }
    case 'list': {
      const qs = new URLSearchParams({ limit: String(o.limit), offset: String(o.offset), ...(o.category === undefined ? {} : { category: o.category }) });
      return t.json('GET', `/api/memory?${qs}`);
    }
    case 'search':
      return t.json('POST', '/api/memory/search', { query: o.query, limit: o.limit, ...(o.filters ? { filters: o.filters } : {}) });
    case 'recall': {
      const qs = new URLSearchParams({ query: o.query, limit: '100', ...(o.category === undefined ? {} : { category: o.category }) });
      return t.json('GET', `/api/memory/recall?${qs}`);
    }
    case 'delete': {
      const contents = [...ids.keys()].sort();
      const c = contents.length ? contents[o.pick % (contents.length + 1)] : undefined;
      const id = c === undefined ? '999999' : (ids.get(c) as string);
      const r = await t.json('DELETE', `/api/memory/${encodeURIComponent(id)}`);
      if (c !== undefined && r.status === 200) ids.delete(c);
      return r;
    }
    case 'stats': {
      const r = await t.json<{ total_memories: number; categories: Record<string, number> }>('GET', '/api/memory/stats');
      // Stats agree with the list: the same total, and the categories add up to it.
      expect(r.body.total_memories).toBe((await t.json<{ total: number }>('GET', '/api/memory?limit=1')).body.total);
      expect(Object.values(r.body.categories).reduce((a, b) => a + b, 0)).toBe(r.body.total_memories);
      return r;
    }
  }
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

test('the same operations give the same answers on holographic, sqlite and spacetimedb', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
      const ids = BACKENDS.map(() => new Map<string, string>());
      // Each run starts empty on every backend.
      for (const t of apps) {
        for (const m of (await t.json<{ memories: Memory[] }>('GET', '/api/memory?limit=1000')).body.memories) await t.json('DELETE', `/api/memory/${encodeURIComponent(m.id)}`);
      }
      for (const o of ops) {
        const answers = await Promise.all(apps.map((t, i) => run(t, o, ids[i] as Map<string, string>)));
        for (const a of answers) {
          for (const m of [a.body.memory, ...((a.body.memories ?? a.body.results ?? []) as unknown[])].filter(Boolean) as Memory[]) {
            expect(m.created_at).toMatch(ISO_MS);
            expect(m.updated_at).toMatch(ISO_MS);
          }
        }
        const [first, ...rest] = answers.map((a) => comparable(o, a));
        for (const [i, other] of rest.entries()) {
          if (!Bun.deepEquals(first, other)) {
            throw new Error(`${BACKENDS[i + 1]} differs from holographic on ${JSON.stringify(o)}:\n${JSON.stringify(first)}\n${JSON.stringify(other)}`);
          }
        }
      }
    }),
    // A fixed seed for the suite (it caught both the year-10000 `until` and the Greek/Indic matching); SEED and RUNS explore further.
    { seed: Number(process.env.SEED ?? 5), numRuns: Number(process.env.RUNS ?? 100), endOnFailure: true },
  );
}, 300_000);

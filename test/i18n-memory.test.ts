/**
 * Memory search for users who do not write English, on all three backends: a CJK, Japanese, Korean or
 * Thai word inside a sentence (FTS5's unicode61 makes one token of a whole run of such text), and a
 * query in the other Unicode normalisation form than the stored text (NFD from macOS file names and
 * some phones, NFC from most keyboards), which FTS5 does not normalise.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { makeTestApp, type TestApp } from './helpers/app';
import { capturePlans } from './helpers/query-plans';

type Result = { id: string; content: string; score: number };

for (const backend of ['holographic', 'sqlite', 'spacetimedb'] as const) {
  describe(`memory search in other scripts — ${backend}`, () => {
    let t: TestApp;
    let fake: FakeSpacetime | null = null;
    const ids: Record<string, string> = {};

    const facts: Record<string, { content: string; category?: string; tags?: string[] }> = {
      zh: { content: '我喜欢喝绿茶和咖啡', category: 'drinks' },
      zh2: { content: '他只喝绿茶', category: 'drinks' },
      ja: { content: '東京の天気は晴れです' },
      ko: { content: '서울에서 김치찌개를 먹었다' },
      th: { content: 'ผู้ใช้ชอบดื่มชาเขียว' },
      ruNfd: { content: 'Пользователь любит чай'.normalize('NFD') },
      jaNfd: { content: 'データベースの移行'.normalize('NFD') },
      tagged: { content: 'A note about tea', tags: ['抹茶ラテ'] },
      en: { content: 'Redis runs on port 6379' },
    };

    beforeAll(async () => {
      const env: Record<string, string> = { MEMORY_BACKEND: backend };
      if (backend === 'spacetimedb') {
        fake = startFakeSpacetime();
        Object.assign(env, { MEMORY_DB_URL: fake.url, SPACETIMEDB_DB: fake.db });
      }
      t = await makeTestApp({ env });
      for (const [name, f] of Object.entries(facts)) {
        const r = await t.json<{ memory: { id: string } }>('POST', '/api/memory', { importance: 0.5, ...f });
        expect(r.status).toBe(201);
        ids[name] = r.body.memory.id;
      }
    });
    afterAll(async () => {
      t.close();
      await fake?.stop();
    });

    const search = async (query: string, filters?: Record<string, unknown>) => {
      const r = await t.json<{ results: Result[]; total: number }>('POST', '/api/memory/search', { query, filters });
      expect(r.status).toBe(200);
      return { ids: r.body.results.map((m) => Object.keys(ids).find((k) => ids[k] === m.id)), total: r.body.total, results: r.body.results };
    };

    test('a CJK, Japanese, Korean or Thai word inside a sentence is found', async () => {
      expect(await search('咖啡')).toMatchObject({ ids: ['zh'], total: 1 });
      expect((await search('绿茶')).ids.sort()).toEqual(['zh', 'zh2']);
      expect(await search('天気')).toMatchObject({ ids: ['ja'], total: 1 });
      expect(await search('김치찌개')).toMatchObject({ ids: ['ko'], total: 1 });
      expect(await search('ชาเขียว')).toMatchObject({ ids: ['th'], total: 1 });
      expect(await search('抹茶')).toMatchObject({ ids: ['tagged'], total: 1 });
      expect(await search('紅茶')).toMatchObject({ ids: [], total: 0 });
    });

    test('more of the words found ranks first; filters and mixed queries still apply', async () => {
      const both = await search('咖啡 绿茶');
      expect(both.ids).toEqual(['zh', 'zh2']);
      expect((both.results[0] as Result).score).toBeGreaterThan((both.results[1] as Result).score);
      expect((await search('绿茶', { category: 'general' })).total).toBe(0);
      expect((await search('redis 咖啡')).ids.sort()).toEqual(['en', 'zh']);
    });

    test('NFC and NFD spellings find each other', async () => {
      expect(await search('чай')).toMatchObject({ ids: ['ruNfd'], total: 1 });
      expect(await search('データベース')).toMatchObject({ ids: ['jaNfd'], total: 1 });
      expect(await search('김치찌개'.normalize('NFD'))).toMatchObject({ ids: ['ko'], total: 1 });
      expect(await search('咖啡'.normalize('NFD'))).toMatchObject({ ids: ['zh'], total: 1 });
    });
  });
}

/**
 * The substring path scans every memory; the index's own matches must be worked out once per query,
 * and each memory's text read once for all the words. Joined as a plain subquery, SQLite ran the MATCH
 * again for each row: 64 Korean words over 2,000 memories held the server 5-7 s. With one `instr` per
 * spelling, column and word, twice (page and total), 64 words over 100,000 memories still held the
 * event loop 2.4-4.6 s, every other client waiting. The plan and the SQL say which it does (one
 * statement, the FTS table scanned once, MATERIALIZE, no `instr`); the time is measured in
 * scripts/bench/memory.ts and scripts/bench/loop-stalls.ts.
 */
for (const backend of ['holographic', 'sqlite'] as const) {
  test(`${backend}: a query of many CJK/Korean words reads each memory once, in one statement running the index's MATCH once`, async () => {
    const capture = capturePlans();
    const t = await makeTestApp({ env: { MEMORY_BACKEND: backend } });
    try {
      for (let i = 0; i < 200; i++) {
        const r = await t.json('POST', '/api/memory', { content: `사용자는 ${i}번째 김치찌개를 먹었다 我喜欢喝绿茶和咖啡 note ${i}`, importance: 0.5 });
        expect(r.status).toBe(201);
      }
      const words = Array.from({ length: 64 }, (_, i) => String.fromCharCode(0xac00 + i * 37, 0xac00 + i * 53)).join(' ');
      const search = async () => {
        const r = await t.json<{ total: number }>('POST', '/api/memory/search', { query: `咖啡 ${words}`, limit: 5 });
        expect({ status: r.status, total: r.body.total }).toEqual({ status: 200, total: 200 });
      };
      const plans = await capture.plans(search, /MATCH/);
      expect(plans).toHaveLength(1); // the page and the total from one read of the memories
      for (const plan of plans) {
        expect(plan).toStartWith('MATERIALIZE');
        expect(plan).not.toMatch(/VIRTUAL TABLE.*LEFT-JOIN/);
      }
      for (const sql of await capture.statements(search, /./)) expect(sql).not.toMatch(/instr\s*\(/i);
    } finally {
      capture.restore();
      t.close();
    }
  }, 120_000);
}

/**
 * Plugin versions with CJK search add `facts.search_text` (the content and tags cut into bigrams,
 * cjk_tokenize.py) and index it in `facts_fts`; their search looks for the bigrams of the query. A fact
 * we write into such a file must carry the same search_text, or the agent never finds it by a CJK word
 * inside a sentence. Expected strings were computed with the plugin's own Python functions.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import { agentSearchBigrams, CJK_FACTS_FTS, migrateToSearchText, openAsAgent, PLUGIN_SCHEMA } from './fakes/hermes-memory-agent';
import { makeTestApp, memoryDbPath, tempDir, type TestApp } from './helpers/app';
import { buildSearchText, tokenizeForIndex } from '../src/modules/memory/search-text';

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});
async function app(path?: string): Promise<TestApp> {
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', ...(path ? { HOLOGRAPHIC_DB_PATH: path } : {}) } });
  apps.push(t);
  return t;
}

/** The schema a newer plugin creates on a fresh file: search_text after tags, the three-column index. */
const CJK_SCHEMA = PLUGIN_SCHEMA.replace("tags            TEXT DEFAULT '',", "tags            TEXT DEFAULT '',\n    search_text     TEXT DEFAULT '',")
  .replace(/CREATE VIRTUAL TABLE[\s\S]*?(?=CREATE TABLE IF NOT EXISTS memory_banks)/, CJK_FACTS_FTS);

const PCB = 'PCB供应商账期口径：月结30天=本月底对账起算30天+次月10日电汇现金';
const PCB_SEARCH_TEXT = 'pcb 供应 应商 商账 账期 期口 口径 月结 30 天 本月 月底 底对 对账 账起 起算 30 天 次月 10 日电 电汇 汇现 现金 账期 供应 应商 商务';

function cjkFile(): string {
  const path = join(tempDir(), 'memory_store.db');
  const agent = openAsAgent(path, { schema: CJK_SCHEMA });
  agent.query('INSERT INTO facts (content, tags, search_text) VALUES (?, ?, ?)').run(PCB, '账期 供应商 商务', PCB_SEARCH_TEXT);
  agent.close();
  return path;
}
const searchTextOf = (db: Database, id: string) => db.query<{ search_text: string | null }, [number]>('SELECT search_text FROM facts WHERE fact_id = ?').get(Number(id))?.search_text;
const integrity = (db: Database) => db.run("INSERT INTO facts_fts(facts_fts, rank) VALUES('integrity-check', 1)");

describe('the port of cjk_tokenize.py', () => {
  test('the plugin’s own examples', () => {
    expect(tokenizeForIndex('供应商账期')).toEqual(['供应', '应商', '商账', '账期']);
    expect(tokenizeForIndex('OCR 识图')).toEqual(['ocr', '识图']);
    expect(tokenizeForIndex('P160金顺')).toEqual(['p160', '金顺']);
    expect(tokenizeForIndex('图')).toEqual(['图']);
    expect(buildSearchText('供应商', '账期')).toBe('供应 应商 账期');
    expect(buildSearchText(PCB, '账期 供应商 商务')).toBe(PCB_SEARCH_TEXT);
  });

  test('edge cases as Python computes them: CJK punctuation joins a run, İ and the Kelvin sign lower-case, astral and half-width characters separate', () => {
    expect(buildSearchText('İstanbul 東京。大阪 \u212aelvin', '旅行,city')).toBe('i stanbul 東京 京。 。大 大阪 kelvin 旅行 city');
    expect(buildSearchText('𠀀绿茶 ｶﾀｶﾅ カタカナ 김치찌개를 café', '')).toBe('绿茶 カタ タカ カナ 김치 치찌 찌개 개를 caf');
    expect(buildSearchText('', '')).toBe('');
  });
});

describe('a file of a plugin with CJK search', () => {
  test('a fact we write carries the plugin’s search_text, and the agent’s search finds it by a word inside the sentence', async () => {
    const path = cjkFile();
    const t = await app(path);
    const r = await t.json<{ memory: { id: string } }>('POST', '/api/memory', { content: '我喜欢喝绿茶和咖啡', tags: ['饮料'] });
    expect(r.status).toBe(201);
    const db = new Database(path);
    expect(searchTextOf(db, r.body.memory.id)).toBe('我喜 喜欢 欢喝 喝绿 绿茶 茶和 和咖 咖啡 饮料');
    // The agent asks for 绿茶, and for 喝绿茶 as its sanitizer turns it into bigrams.
    expect(agentSearchBigrams(db, ['绿茶'])).toEqual([Number(r.body.memory.id)]);
    expect(agentSearchBigrams(db, ['喝绿', '绿茶'])).toEqual([Number(r.body.memory.id)]);
    integrity(db);
    db.close();
  });

  test('the agent’s facts are found by our search, and our delete leaves their index consistent', async () => {
    const path = cjkFile();
    const t = await app(path);
    const found = await t.json<{ results: { id: string }[]; total: number }>('POST', '/api/memory/search', { query: '月结' });
    expect([found.body.total, found.body.results.map((m) => m.id)]).toEqual([1, ['1']]);
    expect((await t.json('DELETE', '/api/memory/1')).status).toBe(200);
    const db = new Database(path);
    integrity(db);
    expect(agentSearchBigrams(db, ['账期'])).toEqual([]);
    db.close();
  });

  test('the column added by the agent while we run is filled from our next write', async () => {
    const t = await app();
    const path = memoryDbPath(t);
    const agent = openAsAgent(path);
    migrateToSearchText(agent);
    agent.close();
    const r = await t.json<{ memory: { id: string } }>('POST', '/api/memory', { content: '周末去北京看长城' });
    const db = new Database(path);
    expect(searchTextOf(db, r.body.memory.id)).toBe('周末 末去 去北 北京 京看 看长 长城');
    expect(agentSearchBigrams(db, ['长城'])).toEqual([Number(r.body.memory.id)]);
    db.close();
  });

  test('an older file keeps its schema: no search_text column is added', async () => {
    const t = await app();
    expect((await t.json('POST', '/api/memory', { content: '我喜欢喝绿茶和咖啡' })).status).toBe(201);
    const db = new Database(memoryDbPath(t), { readonly: true });
    expect(db.query("SELECT name FROM pragma_table_info('facts') WHERE name = 'search_text'").all()).toEqual([]);
    db.close();
  });
});

/**
 * Search filters of the holographic backend on rows the agent wrote: hand-written tag strings are
 * filtered exactly as the list shows them, with and without a query and in the totals; `since` and
 * `until` work in the whole seconds Hermes stores `created_at` in.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { agentAddFact, openAsAgent } from './fakes/hermes-memory-agent';
import { makeTestApp, type TestApp } from './helpers/app';
import { capturePlans } from './helpers/query-plans';
import { splitTags, TRIMMED_CHARS } from '../src/modules/memory/memory-values';

type Memory = { id: string; tags: string[]; created_at: string };
type Found = { results: Memory[]; total: number };

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});
async function app(): Promise<TestApp> {
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic' } });
  apps.push(t);
  return t;
}
const ids = (r: { body: Found }) => r.body.results.map((m) => Number(m.id)).sort((a, b) => a - b);

describe('tag filters on hand-written tags', () => {
  // What agents write in the comma-separated column; each of the first nine reads as [deploy, staging].
  const WRITTEN = ['deploy,staging', 'deploy, staging', 'deploy,  staging', 'deploy ,  staging', 'deploy,\tstaging', 'deploy\n,staging',
    ' deploy ,staging\r\n', 'deploy,\u3000staging\u00a0', '\ufeffdeploy,,staging,', 'deploy,stagingx', 'xstaging, deploy', 'pre staging,deploy'];

  async function agentFile(): Promise<TestApp> {
    const t = await app();
    const agent = openAsAgent(join(t.home, 'memory_store.db'));
    for (const [i, tags] of WRITTEN.entries()) agentAddFact(agent, { content: `Fact number ${i} about the release train`, tags });
    agent.close();
    return t;
  }

  test('the list and the filter agree, with and without a query, totals included', async () => {
    const t = await agentFile();
    const list = await t.json<{ memories: Memory[] }>('GET', '/api/memory');
    const listed = list.body.memories.filter((m) => m.tags.includes('staging')).map((m) => Number(m.id)).sort((a, b) => a - b);
    expect(listed).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const query of ['release', '']) {
      const all = await t.json<Found>('POST', '/api/memory/search', { query, limit: 50, filters: { tags: ['staging'] } });
      expect([query, ids(all), all.body.total]).toEqual([query, listed, 9]);
      const both = await t.json<Found>('POST', '/api/memory/search', { query, limit: 3, filters: { tags: ['deploy', 'staging'] } });
      expect([query, both.body.results.length, both.body.total]).toEqual([query, 3, 9]);
      const spaced = await t.json<Found>('POST', '/api/memory/search', { query, limit: 50, filters: { tags: ['pre staging'] } });
      expect([query, ids(spaced)]).toEqual([query, [12]]);
      const none = await t.json<Found>('POST', '/api/memory/search', { query, limit: 50, filters: { tags: ['stag'] } });
      expect([query, none.body.total]).toEqual([query, 0]);
    }
  });

  test('GLOB and LIKE characters in a tag are plain characters', async () => {
    const t = await app();
    const agent = openAsAgent(join(t.home, 'memory_store.db'));
    const written = ['c*,  a?b', ' [x] ,100%_done', 'cc,axb', 'x,done', '[x]y, c*d'];
    for (const [i, tags] of written.entries()) agentAddFact(agent, { content: `Note ${i} on the release train`, tags });
    agent.close();
    for (const [tag, expected] of [['c*', [1]], ['a?b', [1]], ['[x]', [2]], ['100%_done', [2]], ['*', []], ['?', []], ['[', []]] as const) {
      for (const query of ['release', '']) {
        const r = await t.json<Found>('POST', '/api/memory/search', { query, limit: 50, filters: { tags: [tag] } });
        expect([tag, query, ids(r), r.body.total]).toEqual([tag, query, [...expected], expected.length]);
      }
    }
  });

  test('generated tag strings: the filter finds exactly the facts the list shows with that tag', async () => {
    const t = await app();
    const agent = openAsAgent(join(t.home, 'memory_store.db'));
    const names = ['ops', 'op', 'ops2', 'a b', 'b', 'x*', '[y]', 'z?'];
    const spaces = [...TRIMMED_CHARS, '', '', ''];
    let seed = 7;
    const pick = <T>(xs: readonly T[]): T => xs[(seed = (seed * 48271) % 2147483647) % xs.length] as T;
    for (let i = 0; i < 300; i++) {
      const parts = Array.from({ length: 1 + (i % 4) }, () => `${pick(spaces)}${pick(spaces)}${pick(names)}${pick(spaces)}`);
      agentAddFact(agent, { content: `Generated fact ${i}`, tags: parts.join(',') });
    }
    agent.close();
    const listed = (await t.json<{ memories: Memory[] }>('GET', '/api/memory?limit=1000')).body.memories;
    for (const name of names) {
      const expected = listed.filter((m) => m.tags.includes(name)).map((m) => Number(m.id)).sort((a, b) => a - b);
      const r = await t.json<Found>('POST', '/api/memory/search', { query: '', limit: 100, filters: { tags: [name] } });
      expect(expected.length).toBeGreaterThan(10);
      expect([name, r.body.total]).toEqual([name, expected.length]);
      // All at trust 0.5: the newest 100 (highest ids) come back.
      expect([name, ids(r)]).toEqual([name, expected.slice(-100)]);
    }
  });

  test('the SQL trims the characters the list trims: TRIMMED_CHARS is exactly what String.prototype.trim() removes', () => {
    const trimmed: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const ch = String.fromCodePoint(cp);
      if (ch.trim() === '') trimmed.push(ch);
    }
    expect(trimmed.join('')).toBe(TRIMMED_CHARS);
    expect(splitTags(`${TRIMMED_CHARS}a${TRIMMED_CHARS},b`)).toEqual(['a', 'b']);
  });
});

describe('since/until in whole seconds', () => {
  test('a fact of the same second as `since` or `until` matches, with and without a query, totals included', async () => {
    const t = await app();
    const agent = openAsAgent(join(t.home, 'memory_store.db'));
    const noon = agentAddFact(agent, { content: 'The release train leaves at noon' });
    const before = agentAddFact(agent, { content: 'The release train before it' });
    agent.run("UPDATE facts SET created_at = '2026-03-01 12:00:00' WHERE fact_id = ?", [noon]);
    agent.run("UPDATE facts SET created_at = '2026-03-01 11:59:59' WHERE fact_id = ?", [before]);
    agent.close();
    const cases: [Record<string, string>, number[]][] = [
      [{ since: '2026-03-01T12:00:00.500Z' }, [noon]],
      [{ since: '2026-03-01T12:00:00.999Z' }, [noon]],
      [{ since: '2026-03-01T13:00:00.250+01:00' }, [noon]],
      [{ since: '2026-03-01T12:00:01Z' }, []],
      [{ until: '2026-03-01T12:00:00.500Z' }, [noon, before].sort((a, b) => a - b)],
      [{ until: '2026-03-01T11:59:59.999Z' }, [before]],
      [{ since: '2026-03-01T11:59:59.700Z', until: '2026-03-01T11:59:59.100Z' }, [before]],
    ];
    for (const [filters, expected] of cases) {
      for (const query of ['release', '']) {
        const r = await t.json<Found>('POST', '/api/memory/search', { query, limit: 10, filters });
        expect([filters, query, ids(r), r.body.total]).toEqual([filters, query, expected, expected.length]);
      }
    }
  });

  test('a memory stored just after a client noted the time is found with that time as `since`', async () => {
    const t = await app();
    for (let i = 0; i < 3; i++) {
      const since = new Date().toISOString();
      const r = await t.json<{ memory: Memory }>('POST', '/api/memory', { content: `Stored after the mark, round ${i}` });
      expect(r.body.memory.created_at.endsWith('.000Z')).toBe(true);
      const found = await t.json<Found>('POST', '/api/memory/search', { query: '', limit: 10, filters: { since } });
      expect(found.body.results.map((m) => m.id)).toContain(r.body.memory.id);
      await Bun.sleep(7);
    }
  });
});

describe('a fact without a category', () => {
  // The plugin's column defaults to 'general' and the list shows a NULL category as 'general' (factToMemory),
  // as the stats count it: the category filter must find the same facts, or a total is not the list's.
  test('is found by the category filter it is shown with, in the list, the search and the totals', async () => {
    const t = await app();
    const agent = openAsAgent(join(t.home, 'memory_store.db'));
    agentAddFact(agent, { content: 'A general fact about the release train' });
    agentAddFact(agent, { content: 'A work fact about the release train', category: 'work' });
    agent.run("INSERT INTO facts (content, category, tags, trust_score) VALUES ('An uncategorised fact about the release train', NULL, '', 0.5)");
    agent.close();
    const list = await t.json<{ memories: { category: string }[] }>('GET', '/api/memory');
    expect(list.body.memories.map((m) => m.category)).toEqual(['general', 'work', 'general']);
    const stats = await t.json<{ categories: Record<string, number> }>('GET', '/api/memory/stats');
    expect(stats.body.categories).toEqual({ general: 2, work: 1 });
    const general = await t.json<{ memories: unknown[]; total: number }>('GET', '/api/memory?category=general');
    expect([general.body.memories.length, general.body.total]).toEqual([2, 2]);
    for (const query of ['release', '']) {
      const found = await t.json<Found>('POST', '/api/memory/search', { query, limit: 50, filters: { category: 'general' } });
      expect([query, ids(found), found.body.total]).toEqual([query, [1, 3], 2]);
      const work = await t.json<Found>('POST', '/api/memory/search', { query, limit: 50, filters: { category: 'work' } });
      expect([query, ids(work), work.body.total]).toEqual([query, [2], 1]);
    }
    const recalled = await t.json<{ results: Memory[] }>('GET', '/api/memory/recall?query=release&category=general');
    expect(recalled.body.results.map((m) => Number(m.id)).sort()).toEqual([1, 3]);
  });

  test('a ?category=general page walks the category index in id order, the NULL rows merged in, and is the same page', async () => {
    const capture = capturePlans();
    try {
      const t = await app();
      const agent = openAsAgent(join(t.home, 'memory_store.db'));
      const insert = agent.query('INSERT INTO facts (content, category) VALUES (?, ?)');
      agent.transaction(() => {
        for (let i = 0; i < 600; i++) insert.run(`fact ${i}`, i % 7 === 0 ? null : i % 3 === 0 ? 'work' : 'general');
      })();
      const reference = (limit: number, offset: number) => ({
        ids: (agent.query("SELECT fact_id FROM facts WHERE category = 'general' OR category IS NULL ORDER BY fact_id DESC LIMIT ? OFFSET ?").all(limit, offset) as { fact_id: number }[]).map((r) => String(r.fact_id)),
        total: (agent.query("SELECT COUNT(*) AS n FROM facts WHERE category = 'general' OR category IS NULL").get() as { n: number }).n,
      });
      const page = async (limit: number, offset: number) => {
        const r = await t.json<{ memories: { id: string }[]; total: number }>('GET', `/api/memory?category=general&limit=${limit}&offset=${offset}`);
        return { ids: r.body.memories.map((m) => m.id), total: r.body.total };
      };
      for (const offset of [0, 1, 6, 7, 300, 459]) {
        for (const limit of [1, 7, 100]) expect({ limit, offset, page: await page(limit, offset) }).toEqual({ limit, offset, page: reference(limit, offset) });
      }
      agent.close();
      // One WHERE with `OR f.category IS NULL` read every general fact and sorted them for each page
      // (80 ms a page at 100,000 facts, against 0.04 for one category).
      const plans = await capture.plans(() => page(20, 40), /facts f.*ORDER BY/);
      expect(plans.length).toBe(1);
      expect(plans[0]).not.toContain('TEMP B-TREE');
      expect(plans[0]).toContain('idx_facts_category');
    } finally {
      capture.restore();
    }
  });
});

/**
 * A word search adds the NULL-trust range only when the file holds a fact without a trust (0e854cb).
 * That look is made in every search, inside its read snapshot: a fact without a trust that Hermes
 * writes (or clears, or deletes) while the sidecar has the file open counts from the next search on.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { agentAddFact, openAsAgent } from './fakes/hermes-memory-agent';
import { makeTestApp, type TestApp } from './helpers/app';

type Found = { results: { id: string; importance: number }[]; total: number };

let t: TestApp | undefined;
afterEach(() => t?.close());

describe('a word search while Hermes changes the trust of facts in the open file', () => {
  test('a fact without a trust written, cleared, restored and deleted by the agent is found as 0.5 exactly while it is there', async () => {
    t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic' } });
    const agent = openAsAgent(join(t.home, 'memory_store.db'));
    agentAddFact(agent, { content: 'A trusted fact about the release train' });
    const app = t;
    const search = async (min_importance?: number) => {
      const r = await app.json<Found>('POST', '/api/memory/search', { query: 'release', limit: 10, ...(min_importance === undefined ? {} : { filters: { min_importance } }) });
      return [r.body.results.map((m) => [m.id, m.importance]).sort(), r.body.total];
    };
    // The sidecar opens the file and searches it before any fact without a trust exists.
    expect(await search()).toEqual([[['1', 0.5]], 1]);
    agent.run("INSERT INTO facts (content, category, tags, trust_score) VALUES ('A hand-written fact about the release train', 'general', '', NULL)");
    expect(await search()).toEqual([[['1', 0.5], ['2', 0.5]], 2]);
    expect(await search(0.4)).toEqual([[['1', 0.5], ['2', 0.5]], 2]);
    expect(await search(0.6)).toEqual([[], 0]);
    // Given a trust, the fact is searched by it; cleared again, as 0.5.
    agent.run('UPDATE facts SET trust_score = 0.1 WHERE fact_id = 2');
    expect(await search()).toEqual([[['1', 0.5]], 1]);
    agent.run('UPDATE facts SET trust_score = NULL WHERE fact_id = 1');
    expect(await search()).toEqual([[['1', 0.5]], 1]);
    agent.run('DELETE FROM facts WHERE fact_id = 1');
    expect(await search()).toEqual([[], 0]);
    expect(await search(0.1)).toEqual([[['2', 0.1]], 1]);
    agent.close();
  });
});

/**
 * The category banks shared with plugin versions that keep each bank's complex sum in
 * `memory_banks.vector_sum` and fold new facts into it: our writes must leave that sum in step with
 * the vector, or the agent's next insert computes a bank without our facts (or with deleted ones).
 */
import { afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import reference from './fixtures/hrr-reference.json';
import { addVectorSumColumn, agentAddFactFolding, openAsAgent } from './fakes/hermes-memory-agent';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { bundle, bytesToPhases, TWO_PI } from '../src/modules/memory/hrr';

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});

const vectors = (reference.facts as { vector_f64le_b64: string }[]).map((f) => new Uint8Array(Buffer.from(f.vector_f64le_b64, 'base64')));

/** Largest angular distance between the stored bank and the bundle of the category's facts. */
function bankError(path: string, category: string): { error: number; count: number; facts: number } {
  const db = new Database(path, { readonly: true });
  const facts = db.query<{ hrr_vector: Uint8Array }, [string]>('SELECT hrr_vector FROM facts WHERE category = ? ORDER BY fact_id').all(category).map((r) => bytesToPhases(r.hrr_vector));
  const bank = db.query<{ vector: Uint8Array; fact_count: number }, [string]>('SELECT vector, fact_count FROM memory_banks WHERE bank_name = ?').get(`cat:${category}`);
  db.close();
  const stored = bytesToPhases(bank?.vector as Uint8Array);
  const want = bundle(facts);
  let error = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs((stored[i] as number) - (want[i] as number));
    error = Math.max(error, Math.min(d, TWO_PI - d));
  }
  return { error, count: bank?.fact_count ?? 0, facts: facts.length };
}

async function sharedFile(): Promise<{ t: TestApp; path: string }> {
  const path = join(tempDir(), 'memory_store.db');
  const agent = openAsAgent(path);
  addVectorSumColumn(agent);
  agentAddFactFolding(agent, 'Agent note one about Falcon', 'project', vectors[0] as Uint8Array);
  agentAddFactFolding(agent, 'Agent note two about Falcon', 'project', vectors[1] as Uint8Array);
  agent.close();
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: path } });
  apps.push(t);
  return { t, path };
}

function agentAdds(path: string, content: string, vector: Uint8Array): void {
  const agent = openAsAgent(path);
  agentAddFactFolding(agent, content, 'project', vector);
  agent.close();
}

test('a fact we add is still in the bank after the agent folds its next fact into the stored sum', async () => {
  const { t, path } = await sharedFile();
  expect((await t.json('POST', '/api/memory', { content: 'Sidecar note about the Falcon launch', category: 'project' })).status).toBe(201);
  agentAdds(path, 'Agent note three about Falcon', vectors[2] as Uint8Array);
  const bank = bankError(path, 'project');
  expect([bank.count, bank.facts]).toEqual([4, 4]);
  expect(bank.error).toBeLessThan(1e-9);
});

test('a fact we delete does not come back into the bank when the agent folds its next fact in', async () => {
  const { t, path } = await sharedFile();
  expect((await t.json('DELETE', '/api/memory/1')).status).toBe(200);
  agentAdds(path, 'Agent note three about Falcon', vectors[2] as Uint8Array);
  const bank = bankError(path, 'project');
  expect([bank.count, bank.facts]).toEqual([2, 2]);
  expect(bank.error).toBeLessThan(1e-9);
});

test('deleting a fact without a category leaves the general bank as it was (the plugin never bundled it there)', async () => {
  const path = join(tempDir(), 'memory_store.db');
  openAsAgent(path).close();
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: path } });
  apps.push(t);
  for (const content of ['Sidecar note one about Falcon', 'Sidecar note two about Falcon']) expect((await t.json('POST', '/api/memory', { content })).status).toBe(201);
  // A hand-written row: category NULL, with a vector. The plugin's rebuild of cat:general (`WHERE category = ?`) leaves it out.
  const agent = openAsAgent(path);
  const id = Number(agent.query('INSERT INTO facts (content, category, tags, trust_score, hrr_vector) VALUES (?, NULL, ?, 0.5, ?)').run('An uncategorised note', '', vectors[3] as Uint8Array).lastInsertRowid);
  agent.close();
  expect(bankError(path, 'general')).toMatchObject({ count: 2, facts: 2 });
  expect((await t.json('DELETE', `/api/memory/${id}`)).status).toBe(200);
  const bank = bankError(path, 'general');
  expect([bank.count, bank.facts]).toEqual([2, 2]);
  expect(bank.error).toBeLessThan(1e-9);
});

/**
 * The plugin's `hrr_dim` setting (config.yaml `plugins.hermes-memory-store.hrr_dim`): the agent
 * decodes every stored vector at that dimension, and a vector of another size makes its search and
 * its next bank rebuild fail. Our vectors and banks must have the agent's dimension.
 */
import { afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, memoryDbPath, tempDir, type TestApp } from './helpers/app';

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});

async function withConfig(yaml: string): Promise<{ t: TestApp; path: string }> {
  const home = join(tempDir(), 'home');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'config.yaml'), yaml);
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HERMES_HOME: home } });
  apps.push(t);
  return { t, path: memoryDbPath(t) };
}

function stored(path: string): { vector: number; bank: number; bankDim: number } {
  const db = new Database(path, { readonly: true });
  const fact = db.query<{ n: number }, []>('SELECT length(hrr_vector) AS n FROM facts').get();
  const bank = db.query<{ n: number; dim: number }, []>('SELECT length(vector) AS n, dim FROM memory_banks').get();
  db.close();
  return { vector: fact?.n ?? 0, bank: bank?.n ?? 0, bankDim: bank?.dim ?? 0 };
}

test('vectors and banks are written at the dimension the agent is configured with', async () => {
  const { t, path } = await withConfig('plugins:\n  hermes-memory-store:\n    hrr_dim: 2048\n');
  expect((await t.json('POST', '/api/memory', { content: 'Redis runs on port 6379', category: 'infra' })).status).toBe(201);
  expect(stored(path)).toEqual({ vector: 2048 * 8, bank: 2048 * 8, bankDim: 2048 });
  expect((await t.json<{ vector_dim: number }>('GET', '/api/memory/stats')).body.vector_dim).toBe(2048);
});

test('the setting as Python int() reads it ("2048" too); without one, or an unusable one, 1024', async () => {
  const cases: [string, number][] = [
    ['plugins:\n  hermes-memory-store:\n    hrr_dim: "512"\n', 512],
    ['model: x\n', 1024],
    ['plugins:\n  hermes-memory-store:\n    hrr_dim: lots\n', 1024],
  ];
  for (const [yaml, dim] of cases) {
    const { t, path } = await withConfig(yaml);
    expect((await t.json('POST', '/api/memory', { content: 'A fact', category: 'general' })).status).toBe(201);
    expect(stored(path).vector).toBe(dim * 8);
  }
});

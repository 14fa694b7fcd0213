/**
 * A holographic memory lives in two files: the fact in the agent's memory_store.db, its metadata in
 * the sidecar's own database, each with its own commit. A sidecar killed between the two (kill -9,
 * OOM) must leave the memory whole or absent: never standing without its metadata.
 */
import { expect, test } from 'bun:test';
import { join } from 'node:path';
import { makeTestApp, tempDir } from './helpers/app';

type Memory = { id: string; content: string; metadata: Record<string, unknown> };

const FIXTURE = join(import.meta.dir, 'fixtures/holographic-killed-write.ts');

async function killedWrite(dir: string, ...args: string[]): Promise<void> {
  const proc = Bun.spawn(['bun', FIXTURE, join(dir, 'data'), join(dir, 'memory_store.db'), ...args], { stdout: 'pipe', stderr: 'pipe' });
  await proc.exited;
  expect([proc.signalCode, await new Response(proc.stderr).text()]).toEqual(['SIGKILL', '']);
}

async function memoriesAfter(dir: string): Promise<Memory[]> {
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: join(dir, 'memory_store.db'), OPTX_DATA_DIR: join(dir, 'data') } });
  try {
    return (await t.json<{ memories: Memory[] }>('GET', '/api/memory')).body.memories;
  } finally {
    t.close();
  }
}

test('a delete killed between its two commits leaves the memory with its metadata, or gone', async () => {
  const dir = tempDir('optx-holo-kill-');
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: join(dir, 'memory_store.db'), OPTX_DATA_DIR: join(dir, 'data') } });
  let id: string;
  try {
    const r = await t.json<{ memory: Memory }>('POST', '/api/memory', { content: 'the deploy key rotates monthly', metadata: { source: 'runbook' } });
    expect(r.status).toBe(201);
    id = r.body.memory.id;
  } finally {
    t.close();
  }
  await killedWrite(dir, 'remove', id);
  const left = await memoriesAfter(dir);
  // The delete was never answered: either outcome is right, a memory stripped of its metadata is not.
  expect(left.map((m) => m.metadata)).toEqual(left.length ? [{ source: 'runbook' }] : []);
});

test('an add killed between its two commits leaves the memory with its metadata, or absent', async () => {
  const dir = tempDir('optx-holo-kill-');
  await killedWrite(dir, 'add', 'written as the process died');
  const left = await memoriesAfter(dir);
  expect(left.map((m) => m.metadata)).toEqual(left.length ? [{ kept: true }] : []);
});

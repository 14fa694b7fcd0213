/**
 * The agent's holographic memory file on a read-only file system (a home mounted `ro`): SQLite cannot
 * make the file's -shm there and says only "unable to open database file". The answer must say why.
 * Needs root to bind-mount; skipped otherwise.
 */
import { afterAll, expect, test } from 'bun:test';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, tempDir } from './helpers/app';

const dir = tempDir();
const home = join(dir, 'home');
const ro = join(dir, 'ro');
mkdirSync(home);
mkdirSync(ro);
const mounted =
  process.getuid?.() === 0 &&
  Bun.spawnSync(['mount', '--bind', home, ro]).exitCode === 0 &&
  Bun.spawnSync(['mount', '-o', 'remount,bind,ro', ro]).exitCode === 0;
afterAll(() => void Bun.spawnSync(['umount', '-l', ro]));

test.skipIf(!mounted)('a memory file on a read-only file system is 503 memory_unavailable saying the file system is read-only; the file is untouched', async () => {
  // Written by another process, which then exits: as the agent leaves it.
  const script = `import { makeTestApp } from ${JSON.stringify(join(import.meta.dir, 'helpers/app'))};
const t = await makeTestApp({ env: { HERMES_HOME: ${JSON.stringify(home)}, MEMORY_BACKEND: 'holographic' } });
if ((await t.json('POST', '/api/memory', { content: 'kept' })).status !== 201) process.exit(1);
t.close();`;
  expect(Bun.spawnSync([process.execPath, '-e', script]).exitCode).toBe(0);
  const before = readFileSync(join(home, 'memory_store.db'));
  const t = await makeTestApp({ env: { HERMES_HOME: ro, MEMORY_BACKEND: 'holographic' } });
  try {
    const r = await t.json<{ code: string; detail: string }>('GET', '/api/memory');
    expect([r.status, r.body.code]).toEqual([503, 'memory_unavailable']);
    expect(r.body.detail).toContain(join(ro, 'memory_store.db'));
    expect(r.body.detail).toContain('the file system holding it is read-only');
    expect(readFileSync(join(home, 'memory_store.db')).equals(before)).toBe(true);
  } finally {
    t.close();
  }
});

test.skipIf(!mounted)('a memory file linked from a writable home into a read-only file system says the file system is read-only (SQLite writes the -shm beside the link\'s target)', async () => {
  const made = join(home, 'linked.db');
  const script = `import { makeTestApp } from ${JSON.stringify(join(import.meta.dir, 'helpers/app'))};
const t = await makeTestApp({ env: { HERMES_HOME: ${JSON.stringify(home)}, MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: ${JSON.stringify(made)} } });
if ((await t.json('POST', '/api/memory', { content: 'kept' })).status !== 201) process.exit(1);
t.close();`;
  expect(Bun.spawnSync([process.execPath, '-e', script]).exitCode).toBe(0);
  const linkHome = join(dir, 'link-home');
  mkdirSync(linkHome);
  symlinkSync(join(ro, 'linked.db'), join(linkHome, 'memory_store.db'));
  const t = await makeTestApp({ env: { HERMES_HOME: linkHome, MEMORY_BACKEND: 'holographic' } });
  try {
    const r = await t.json<{ code: string; detail: string }>('GET', '/api/memory');
    expect([r.status, r.body.code]).toEqual([503, 'memory_unavailable']);
    expect(r.body.detail).toContain('the file system holding it is read-only');
  } finally {
    t.close();
  }
});

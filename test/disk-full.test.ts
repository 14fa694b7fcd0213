/**
 * A real full disk (a 1 MiB tmpfs under the Hermes home), which SQLite's max_page_count cannot stand
 * in for when the file written is not a database. Needs root to mount; skipped otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../src/db';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';

const mnt = join(tempDir(), 'tmpfs');
mkdirSync(mnt);
const mounted = process.getuid?.() === 0 && Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]).exitCode === 0;

/** Writes filler files until the file system refuses more. */
function fill(): void {
  let i = 0;
  try {
    for (;;) writeFileSync(join(mnt, `filler-${i++}`), Buffer.alloc(4096));
  } catch {
    // ENOSPC: full
  }
}

const free = () => {
  for (const f of readdirSync(mnt)) if (f.startsWith('filler-')) rmSync(join(mnt, f));
};
const openFds = () => readdirSync('/proc/self/fd').length;

// Lazily: a descriptor leaked by a failing run would keep the mount busy.
afterAll(() => void (mounted && Bun.spawnSync(['umount', '-l', mnt])));

describe.skipIf(!mounted)('start-up on a full disk', () => {
  test('an existing database whose -wal and -shm cannot be created names the full disk, not a "disk I/O error"; the file is untouched', () => {
    const data = join(mnt, 'data');
    // Made by another process, as a stopped sidecar leaves it: this one would keep the -shm mapped for
    // as long as a statement of its handle is not finalized, and need not create it again.
    const script = `import { openDatabase } from ${JSON.stringify(join(import.meta.dir, '../src/db'))};
const db = openDatabase(${JSON.stringify(data)});
db.sqlite.run("CREATE TABLE mine (v TEXT); INSERT INTO mine VALUES ('kept')");
db.sqlite.run('PRAGMA wal_checkpoint(TRUNCATE)');`;
    expect(Bun.spawnSync([process.execPath, '-e', script]).exitCode).toBe(0);
    for (const suffix of ['-wal', '-shm']) rmSync(join(data, `optx-api.db${suffix}`), { force: true });
    const before = readFileSync(join(data, 'optx-api.db'));
    fill();
    try {
      expect(() => openDatabase(data).close()).toThrow(/optx-api\.db .*the file system holding it is full/);
      expect(readFileSync(join(data, 'optx-api.db')).equals(before)).toBe(true);
    } finally {
      free();
    }
    // Checked by another process too: this one's handles would hold the files' space after rmSync.
    const check = `import { openDatabase } from ${JSON.stringify(join(import.meta.dir, '../src/db'))};
console.log(JSON.stringify(openDatabase(${JSON.stringify(data)}).sqlite.query('SELECT v FROM mine').all()));`;
    expect(Bun.spawnSync([process.execPath, '-e', check]).stdout.toString().trim()).toBe('[{"v":"kept"}]');
    rmSync(data, { recursive: true });
  });
});

describe.skipIf(!mounted)('the holographic memory file on a full disk', () => {
  test('opening it names the full disk, not a "disk I/O error"; the file is untouched', async () => {
    const home = join(mnt, 'memory-home');
    mkdirSync(home);
    // Written by another process, which then exits: as the agent leaves it.
    const script = `import { makeTestApp } from ${JSON.stringify(join(import.meta.dir, 'helpers/app'))};
const t = await makeTestApp({ env: { HERMES_HOME: ${JSON.stringify(home)}, MEMORY_BACKEND: 'holographic' } });
if ((await t.json('POST', '/api/memory', { content: 'kept' })).status !== 201) process.exit(1);
t.close();`;
    expect(Bun.spawnSync([process.execPath, '-e', script]).exitCode).toBe(0);
    for (const suffix of ['-wal', '-shm']) rmSync(join(home, `memory_store.db${suffix}`), { force: true });
    const before = readFileSync(join(home, 'memory_store.db'));
    fill();
    const t = await makeTestApp({ env: { HERMES_HOME: home, MEMORY_BACKEND: 'holographic' } });
    try {
      const r = await t.json<{ code: string; detail: string }>('GET', '/api/memory');
      expect([r.status, r.body.code]).toEqual([503, 'memory_unavailable']);
      expect(r.body.detail).toContain('memory_store.db');
      expect(r.body.detail).toContain('the file system holding it is full');
      expect(readFileSync(join(home, 'memory_store.db')).equals(before)).toBe(true);
    } finally {
      t.close();
      free();
      rmSync(home, { recursive: true });
    }
  });
});

describe.skipIf(!mounted)('config.yaml edits on a full disk', () => {
  let t: TestApp;
  const home = join(mnt, 'home');
  const config = '# mine\nmodel:\n  default: a   # keep\n';
  beforeAll(async () => {
    mkdirSync(home);
    writeFileSync(join(home, 'config.yaml'), config);
    t = await makeTestApp({ env: { HERMES_HOME: home, MEMORY_BACKEND: 'sqlite' } });
  });
  afterAll(() => t?.close());

  test('507 each time, the file untouched, no lock, temp file or descriptor left; the next edit once there is room is immediate', async () => {
    fill();
    const fds = openFds();
    for (let i = 0; i < 3; i++) {
      const r = await t.json('POST', '/api/config', { key: 'model.default', value: `b${i}` });
      expect([r.status, r.body.code]).toEqual([507, 'storage_full']);
    }
    expect(openFds()).toBe(fds);
    expect(readFileSync(join(home, 'config.yaml'), 'utf8')).toBe(config);
    expect(readdirSync(home)).toEqual(['config.yaml']);
    free();
    const started = performance.now();
    expect((await t.json('POST', '/api/config', { key: 'model.default', value: 'c' })).status).toBe(200);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(existsSync(join(home, '.config.yaml.lock'))).toBe(false);
  });
});

/**
 * A real full disk (a 1 MiB tmpfs under the Hermes home), which SQLite's max_page_count cannot stand
 * in for when the file written is not a database. Needs root to mount; skipped otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

describe.skipIf(!mounted)('config.yaml edits on a full disk', () => {
  let t: TestApp;
  const home = join(mnt, 'home');
  const config = '# mine\nmodel:\n  default: a   # keep\n';
  beforeAll(async () => {
    mkdirSync(home);
    writeFileSync(join(home, 'config.yaml'), config);
    t = await makeTestApp({ env: { HERMES_HOME: home, MEMORY_BACKEND: 'sqlite' } });
  });
  afterAll(() => {
    t?.close();
    // Lazily: a descriptor leaked by a failing run would keep the mount busy.
    Bun.spawnSync(['umount', '-l', mnt]);
  });

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

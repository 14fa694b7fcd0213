/**
 * A data dir whose database cannot be used as it is (a directory or a dangling link in its place, a
 * file or folder this user cannot write): start-up stops with the file and the reason named, and
 * leaves nothing behind that keeps it failing once the cause is fixed.
 */
import { describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openDatabase } from '../src/db';
import { tempDir } from './helpers/app';

const SETTING = '(OPTX_DATA_DIR, --data-dir)';

/**
 * Opens `dataDir` as an unprivileged user, in a child process: root can write a file of any mode,
 * so run as root the test opens it as `nobody` (through runuser). Returns the error line, or 'opened'.
 */
function openAsUser(dataDir: string): string {
  const script = `import { openDatabase } from ${JSON.stringify(join(import.meta.dir, '../src/db'))};
try { openDatabase(${JSON.stringify(dataDir)}).close(); console.log('opened'); } catch (e) { console.log(e.message); }`;
  const cmd = [process.execPath, '-e', script];
  const asRoot = process.getuid?.() === 0;
  const proc = Bun.spawnSync(asRoot ? ['runuser', '-u', 'nobody', '--', ...cmd] : cmd, { cwd: '/' });
  return proc.stdout.toString().trim() || proc.stderr.toString().trim();
}

/** A data dir an unprivileged user can reach (temp dirs are 0700), with a database created in it, owned by that user when run as root. */
function userDataDir(): string {
  const dir = join(tempDir(), 'data');
  openDatabase(dir).close();
  // As a clean stop leaves it (a handle whose statements are not finalized keeps its WAL on close).
  for (const suffix of ['-wal', '-shm']) rmSync(join(dir, `optx-api.db${suffix}`), { force: true });
  for (let d = dirname(dir); d !== dirname(d) && d.includes('optx-test'); d = dirname(d)) chmodSync(d, 0o755);
  chmodSync(dirname(dirname(dir)), 0o755);
  if (process.getuid?.() === 0) {
    const id = Bun.spawnSync(['id', '-u', 'nobody']).stdout.toString().trim();
    Bun.spawnSync(['chown', '-R', `${id}`, dir]);
  }
  return dir;
}

describe('data dir files that cannot be used', () => {
  test('a directory in place of optx-api.db is named as such', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'optx-api.db'));
    expect(() => openDatabase(dir)).toThrow(`Cannot open the sidecar database ${join(dir, 'optx-api.db')} ${SETTING}: ${join(dir, 'optx-api.db')} is a directory, not a database file`);
  });

  test('a symbolic link to a missing file is named as such; a link to a database is followed', () => {
    const dir = tempDir();
    symlinkSync(join(dir, 'elsewhere', 'optx-api.db'), join(dir, 'optx-api.db'));
    expect(() => openDatabase(dir)).toThrow(`${join(dir, 'optx-api.db')} is a symbolic link to a file that does not exist`);
    const linked = tempDir();
    openDatabase(join(linked, 'real')).close();
    symlinkSync(join(linked, 'real', 'optx-api.db'), join(linked, 'optx-api.db'));
    const h = openDatabase(linked);
    h.sqlite.run("INSERT INTO sidecar_meta (key, value, updated_at) VALUES ('k', 'v', 'now')");
    expect(existsSync(join(linked, 'real', 'optx-api.db-wal'))).toBe(true);
    h.close();
  });

  test('a read-only database (0444) is named, and no -wal/-shm of its mode is left to keep start-up failing after a chmod', () => {
    const dir = userDataDir();
    const db = join(dir, 'optx-api.db');
    chmodSync(db, 0o444);
    expect(openAsUser(dir)).toMatch(new RegExp(`${db} is not readable and writable by this user \\(uid \\d+\\)`));
    expect([existsSync(`${db}-wal`), existsSync(`${db}-shm`)]).toEqual([false, false]);
    chmodSync(db, 0o644);
    expect(openAsUser(dir)).toBe('opened');
  });

  test('a data dir this user cannot write names the folder, not the database', () => {
    const dir = userDataDir();
    chmodSync(dir, 0o555);
    expect(openAsUser(dir)).toMatch(new RegExp(`: ${dir} is not readable and writable by this user`));
    chmodSync(dir, 0o755);
    expect(openAsUser(dir)).toBe('opened');
  });
});

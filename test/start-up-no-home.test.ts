/**
 * A user with no home to find: HOME unset and a uid with no passwd entry (`env -i`, `setpriv`, a
 * bare numeric uid). os.homedir() throws then; it was called before anything else, so every start
 * stopped with "fatal: ENOENT: no such file or directory, uv_os_homedir", `--version` included and
 * HERMES_HOME set or not. Needs root to take such a uid (through setpriv); skipped otherwise.
 */
import { describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from './helpers/app';
import { readFirstLine } from './helpers/binary';

const MAIN = join(import.meta.dir, '../src/main.ts');
const canSwitchUser = process.getuid?.() === 0 && Bun.which('setpriv') !== null;

/** A uid no account has, so neither HOME nor the passwd database names a home for it. */
function unusedUid(): number {
  for (let uid = 54_321; ; uid++) {
    if (Bun.spawnSync(['getent', 'passwd', String(uid)]).exitCode !== 0) return uid;
  }
}

/** Runs main.ts as `uid` with only PATH in the environment (no HOME) until it exits or prints its first line. */
async function runAs(uid: number, env: Record<string, string>, args: string[]): Promise<{ out: string; err: string; code: number | null }> {
  const proc = Bun.spawn(['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', LOG_FORMAT: 'pretty', ...env },
    cwd: '/',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const out = await readFirstLine(proc.stdout);
  const running = /listening on /.test(out);
  if (running) proc.kill('SIGTERM');
  const code = await proc.exited;
  return { out: out.split('\n')[0] ?? '', err: (await new Response(proc.stderr).text()).trim(), code: running ? null : code };
}

describe.skipIf(!canSwitchUser)('a user with no home directory', () => {
  test('--version answers and a set HERMES_HOME starts; a ~ path stops start-up with one line naming it', async () => {
    const uid = unusedUid();
    const dir = tempDir();
    // The test temp dirs are 0700 root's: let the uid through to a home of its own.
    chmodSync(dirname(dir), 0o711);
    chmodSync(dir, 0o711);
    const home = join(dir, 'hermes-home');
    const mkdir = Bun.spawnSync(['install', '-d', '-o', String(uid), '-g', String(uid), home]);
    expect(mkdir.exitCode).toBe(0);

    const version = await runAs(uid, {}, ['--version']);
    expect(version.out).toMatch(/^hermes-optx-api \d+\.\d+\.\d+$/);
    expect(version.err).toBe('');

    const started = await runAs(uid, { HERMES_HOME: home }, ['--host', '127.0.0.1', '--port', '0', '--hermes-url', 'http://127.0.0.1:1']);
    expect(started.err).toBe('');
    expect(started.out).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+$/);
    expect(existsSync(join(home, 'optx-api', 'optx-api.db'))).toBe(true);

    const defaulted = await runAs(uid, {}, ['--port', '0']);
    expect(defaulted.code).toBe(2);
    expect(defaulted.err).toBe(
      `hermes-optx-api: Cannot expand ~ in HERMES_HOME (--hermes-home) (not set, so its default "~/.hermes"): HOME is not set and this user (uid ${uid}) has no home directory in the passwd database; set HERMES_HOME to an absolute path, or set HOME.`,
    );
    const dataDir = await runAs(uid, { HERMES_HOME: home }, ['--port', '0', '--data-dir', '~/data']);
    expect(dataDir.code).toBe(2);
    expect(dataDir.err).toContain('Cannot expand ~ in OPTX_DATA_DIR (--data-dir) ("~/data")');
    expect(dataDir.err.split('\n')).toHaveLength(1);
  }, 120_000);
});

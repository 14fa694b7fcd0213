/**
 * A Hermes home the sidecar's user can read but not write (another owner, mode 0555): config edits
 * cannot create their lock or temp file there. The edit must be refused with an error that names the
 * folder, with config.yaml untouched — not a logged 500 `internal_error`.
 */
import { expect, test } from 'bun:test';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeTestApp, tempDir } from './helpers/app';

const CONFIG = '# mine\nmodel:\n  default: a\n';

/**
 * Sends `requests` to an in-process app in a child process run as an unprivileged user: root writes a
 * folder of any mode, so run as root the child runs as `nobody` (through runuser) on a home root owns.
 */
function editAsUser(home: string, requests: [string, string, unknown][]): { status: number; code: string; detail: string }[] {
  const script = `import { makeTestApp } from ${JSON.stringify(join(import.meta.dir, 'helpers/app'))};
import { removeTempDirs } from ${JSON.stringify(join(import.meta.dir, 'helpers/temp'))};
const t = await makeTestApp({ env: { HERMES_HOME: ${JSON.stringify(home)}, MEMORY_BACKEND: 'sqlite' } });
const out = [];
for (const [method, path, body] of ${JSON.stringify(requests)}) {
  const r = await t.json(method, path, body);
  out.push({ status: r.status, code: r.body.code, detail: r.body.detail });
}
t.close();
removeTempDirs();
console.log(JSON.stringify(out));`;
  const cmd = [process.execPath, '-e', script];
  const proc = Bun.spawnSync(process.getuid?.() === 0 ? ['runuser', '-u', 'nobody', '--', ...cmd] : cmd, { cwd: '/' });
  const out = proc.stdout.toString().trim();
  if (!out) throw new Error(proc.stderr.toString());
  return JSON.parse(out.split('\n').at(-1) as string);
}

test('an edit in a home the sidecar cannot write is 503 config_not_writable naming the folder; the file is untouched', () => {
  const home = join(tempDir(), 'home');
  mkdirSync(home);
  writeFileSync(join(home, 'config.yaml'), CONFIG);
  // Temp dirs are 0700: let the unprivileged user reach the home and read config.yaml.
  for (let d = home; d !== dirname(d) && d.includes('optx-test'); d = dirname(d)) chmodSync(d, 0o755);
  chmodSync(join(home, 'config.yaml'), 0o644);
  // Run as root the home stays root's (nobody cannot write it); otherwise it is made read-only.
  if (process.getuid?.() !== 0) chmodSync(home, 0o555);
  try {
    const answers = editAsUser(home, [
      ['POST', '/api/config', { key: 'model.default', value: 'b' }],
      ['PATCH', '/api/config', { model: { default: 'c' } }],
      ['POST', '/api/config/model', { model: 'd' }],
    ]);
    for (const a of answers) {
      expect([a.status, a.code]).toEqual([503, 'config_not_writable']);
      expect(a.detail).toContain(home);
    }
    expect(readFileSync(join(home, 'config.yaml'), 'utf8')).toBe(CONFIG);
  } finally {
    chmodSync(home, 0o755);
  }
});

/** `chattr` needs root (CAP_LINUX_IMMUTABLE) and a file system that keeps the flag (ext4, xfs, btrfs; not tmpfs). */
const immutable = (file: string, on: boolean) => process.getuid?.() === 0 && Bun.spawnSync(['chattr', on ? '+i' : '-i', file]).exitCode === 0;
const canChattr = (() => {
  const probe = join(tempDir(), 'probe');
  writeFileSync(probe, '');
  return immutable(probe, true) && immutable(probe, false);
})();

test.skipIf(!canChattr)('an immutable config.yaml (chattr +i) in a folder the sidecar may write: 503 config_not_writable names the file, not the folder; nothing left behind', async () => {
  const home = join(tempDir(), 'home');
  mkdirSync(home);
  const file = join(home, 'config.yaml');
  writeFileSync(file, CONFIG);
  expect(immutable(file, true)).toBe(true);
  try {
    const t = await makeTestApp({ env: { HERMES_HOME: home, MEMORY_BACKEND: 'sqlite' } });
    try {
      const r = await t.json<{ code: string; detail: string }>('POST', '/api/config', { key: 'model.default', value: 'b' });
      expect([r.status, r.body.code]).toEqual([503, 'config_not_writable']);
      // The folder can be written (the lock and temp file were made there): telling the operator to
      // give write access to it sent them after the wrong thing.
      expect(r.body.detail).toContain(file);
      expect(r.body.detail).not.toContain('write access to that folder');
      expect(r.body.detail).toContain('chattr +i');
    } finally {
      t.close();
    }
    expect(readFileSync(file, 'utf8')).toBe(CONFIG);
    expect(readdirSync(home)).toEqual(['config.yaml']);
  } finally {
    immutable(file, false);
  }
});

// Run as root, `nobody` edits root's file; as its owner, the test's user could replace it.
test.skipIf(process.getuid?.() !== 0)('in a sticky folder the sidecar may write (mode 1777), a config.yaml of another user: 503 config_not_writable names the file', () => {
  const home = join(tempDir(), 'home');
  mkdirSync(home);
  writeFileSync(join(home, 'config.yaml'), CONFIG);
  for (let d = home; d !== dirname(d) && d.includes('optx-test'); d = dirname(d)) chmodSync(d, 0o755);
  chmodSync(join(home, 'config.yaml'), 0o666);
  chmodSync(home, 0o1777);
  const [a] = editAsUser(home, [['POST', '/api/config', { key: 'model.default', value: 'b' }]]);
  expect([a?.status, a?.code]).toEqual([503, 'config_not_writable']);
  expect(a?.detail).toContain(join(home, 'config.yaml'));
  expect(a?.detail).not.toContain('write access to that folder');
  expect(readFileSync(join(home, 'config.yaml'), 'utf8')).toBe(CONFIG);
});

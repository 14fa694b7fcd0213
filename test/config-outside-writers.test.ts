/**
 * config.yaml written by Hermes itself while the sidecar reads and edits it. Hermes
 * (hermes_cli/config.py save_config → utils.atomic_yaml_write) takes no lock other processes see,
 * and when its rename fails with EBUSY/EXDEV — config.yaml bind-mounted as a single file, as in
 * `docker run -v ./config.yaml:/opt/data/config.yaml` — it copies the new text over the file in place
 * (truncate, then write), as editors saving in place do. Readers then find it empty or half written
 * for a moment. The same holds for `.env`.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';

const WHOLE = '# mine\nmodel:\n  default: a   # keep\nbase: keep\n';

describe('a config.yaml an in-place writer has just truncated (Hermes copying over a bind-mounted file)', () => {
  let t: TestApp;
  let path: string;
  beforeAll(async () => {
    t = await makeTestApp();
    mkdirSync(t.home, { recursive: true });
    path = join(t.home, 'config.yaml');
  });
  afterAll(() => t.close());

  test('GET keeps answering the last whole file, not an empty config, until the writer has written', async () => {
    writeFileSync(path, WHOLE);
    expect((await t.json<{ config: unknown }>('GET', '/api/config')).body.config).toEqual({ model: { default: 'a' }, base: 'keep' });
    truncateSync(path, 0);
    const mid = await t.json<{ config: unknown; model: string | null }>('GET', '/api/config');
    expect([mid.status, mid.body.config, mid.body.model]).toEqual([200, { model: { default: 'a' }, base: 'keep' }, 'a']);
    expect((await t.json('GET', '/api/config/model')).body.model).toBe('a');
    writeFileSync(path, `${WHOLE}more: 1\n`);
    expect((await t.json<{ config: unknown }>('GET', '/api/config')).body.config).toEqual({ model: { default: 'a' }, base: 'keep', more: 1 });
  });

  test('a file emptied a while ago is empty', async () => {
    writeFileSync(path, WHOLE);
    await t.json('GET', '/api/config');
    truncateSync(path, 0);
    const old = new Date(Date.now() - 10_000);
    utimesSync(path, old, old);
    expect((await t.json<{ config: unknown }>('GET', '/api/config')).body.config).toEqual({});
  });

  test('an edit waits for a writer caught between truncating and writing instead of replacing the file with its own key alone', async () => {
    writeFileSync(path, WHOLE);
    // An editor saving in place (nano, vim with backupcopy=yes) or Hermes' copy: truncate, then write.
    const fd = openSync(path, 'w');
    const edit = t.json('POST', '/api/config', { key: 'ours', value: 1 });
    await Bun.sleep(50);
    writeSync(fd, `${WHOLE}theirs: 2\n`);
    closeSync(fd);
    // Renamed over meanwhile, the writer's text went to the replaced file and the whole config was lost.
    expect((await edit).status).toBe(200);
    expect(readFileSync(path, 'utf8')).toBe(`${WHOLE}theirs: 2\nours: 1\n`);
  });

  test('while an edit waits for such a writer, its lock stays fresh: a sidecar in another container, which cannot see our pid, would take a lock older than 2 s for a dead one', async () => {
    writeFileSync(path, WHOLE);
    const fd = openSync(path, 'w');
    const edit = t.json('POST', '/api/config', { key: 'ours', value: 2 });
    const lock = join(t.home, '.config.yaml.lock');
    // The writer truncates again (a slow copy, a second save), so the file stays just emptied past 2 s.
    await Bun.sleep(1_200);
    truncateSync(path, 0);
    await Bun.sleep(1_100);
    const age = Date.now() - statSync(lock).mtimeMs;
    writeSync(fd, WHOLE);
    closeSync(fd);
    expect((await edit).status).toBe(200);
    expect(age).toBeLessThan(1_000);
  });

  test('an edit of a file emptied a while ago goes ahead', async () => {
    writeFileSync(path, '');
    const old = new Date(Date.now() - 10_000);
    utimesSync(path, old, old);
    expect((await t.json('POST', '/api/config', { key: 'ours', value: 1 })).status).toBe(200);
    expect(readFileSync(path, 'utf8')).toBe('ours: 1\n');
  });

  test('a process rewriting the file in place over and over: every GET answers a whole config', async () => {
    writeFileSync(path, 'base: keep\nn: -1\n');
    const writer = Bun.spawn(['bun', join(import.meta.dir, 'fixtures/config-inplace-writer.ts'), path, '400'], { stdout: 'ignore', stderr: 'inherit' });
    let running = true;
    void writer.exited.then(() => (running = false));
    const answers: Record<string, number> = {};
    while (running) {
      const r = await t.json<{ config?: { base?: string; n?: number } }>('GET', '/api/config');
      const kind = r.status === 200 && r.body.config?.base === 'keep' && typeof r.body.config.n === 'number' ? 'whole' : `${r.status} ${JSON.stringify(r.body).slice(0, 60)}`;
      answers[kind] = (answers[kind] ?? 0) + 1;
      await Bun.sleep(0);
    }
    expect(await writer.exited).toBe(0);
    expect(Object.keys(answers)).toEqual(['whole']);
  }, 120_000);
});

describe('a .env an in-place writer has just truncated', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp();
    mkdirSync(t.home, { recursive: true });
  });
  afterAll(() => t.close());

  test('GET /api/config keeps showing the last whole .env (it showed no keys at all), and a file emptied a while ago is empty', async () => {
    const envPath = join(t.home, '.env');
    writeFileSync(envPath, 'OPENROUTER_API_KEY=sk-or-0123456789abcdef\nLOG_DIR=/var/log/hermes\n');
    const whole = { OPENROUTER_API_KEY: '***cdef', LOG_DIR: '/var/log/hermes' };
    expect((await t.json<{ env: unknown }>('GET', '/api/config')).body.env).toEqual(whole);
    truncateSync(envPath, 0);
    expect((await t.json<{ env: unknown }>('GET', '/api/config')).body.env).toEqual(whole);
    const old = new Date(Date.now() - 10_000);
    utimesSync(envPath, old, old);
    expect((await t.json<{ env: unknown }>('GET', '/api/config')).body.env).toEqual({});
  });
});

// A single-file bind mount needs root; skipped otherwise.
const bindDir = tempDir();
const bindHome = join(bindDir, 'home');
const hostFile = join(bindDir, 'host-config.yaml');
mkdirSync(bindHome);
writeFileSync(hostFile, WHOLE);
writeFileSync(join(bindHome, 'config.yaml'), '');
const bound = process.getuid?.() === 0 && Bun.spawnSync(['mount', '--bind', hostFile, join(bindHome, 'config.yaml')]).exitCode === 0;
// At file level: the describe's own hooks do not run when `-t` filters its tests out, and the mount stayed.
afterAll(() => {
  if (bound) Bun.spawnSync(['umount', '-l', join(bindHome, 'config.yaml')]);
});

describe.skipIf(!bound)('a config.yaml bind-mounted as a single file (rename over it fails with EBUSY)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp({ env: { HERMES_HOME: bindHome } });
  });
  afterAll(() => t?.close());

  test('an edit is refused with 503 config_not_replaceable, the file untouched, no temp or lock file left', async () => {
    const before = readFileSync(hostFile, 'utf8');
    for (const [method, body] of [['POST', { key: 'model.default', value: 'b' }], ['PATCH', { base: 'changed' }]] as const) {
      const r = await t.json(method, '/api/config', body);
      expect([r.status, r.body.code]).toEqual([503, 'config_not_replaceable']);
      expect(r.body.detail).toContain('mount its directory instead');
    }
    expect(readFileSync(hostFile, 'utf8')).toBe(before);
    expect(readdirSync(bindHome).filter((f) => f.includes('config'))).toEqual(['config.yaml']);
    expect((await t.json('GET', '/api/config')).status).toBe(200);
  });
});

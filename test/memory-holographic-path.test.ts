/**
 * Which memory file the sidecar shares with the agent. Hermes' plugin opens
 * `plugins.hermes-memory-store.db_path` from config.yaml when it is set (`$HERMES_HOME`/`${HERMES_HOME}`
 * replaced by the agent's home, `~` expanded, other `${VAR}` expanded from the environment by Hermes'
 * config loader); the sidecar must open the same file, or the two keep separate memories.
 * Precedence: HOLOGRAPHIC_DB_PATH > that setting > `$HERMES_HOME/memory_store.db`.
 */
import { afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { contents, dbPath } from './helpers/memory-file';

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});

interface Setup {
  t: TestApp;
  home: string;
  /** makeTestApp's `~` and working directory. */
  dir: string;
}

async function withConfig(yaml: string, env: Record<string, string> = {}): Promise<Setup> {
  const home = join(tempDir(), 'home');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'config.yaml'), yaml);
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HERMES_HOME: home, ...env } });
  apps.push(t);
  return { t, home, dir: t.dir };
}

/** The stats answer, which carries the backend's details at its top level. */
async function statsDetails(t: TestApp): Promise<Record<string, unknown>> {
  return (await t.json<Record<string, unknown>>('GET', '/api/memory/stats')).body;
}

test("the plugin's db_path is the file written and reported, with $HERMES_HOME and ${HERMES_HOME} replaced as the plugin does", async () => {
  for (const value of ['$HERMES_HOME/agent/facts.db', '${HERMES_HOME}/agent/facts.db']) {
    const { t, home } = await withConfig(dbPath(value));
    expect((await t.json('POST', '/api/memory', { content: 'Redis runs on port 6379' })).status).toBe(201);
    expect(contents(join(home, 'agent', 'facts.db'))).toEqual(['Redis runs on port 6379']);
    expect(existsSync(join(home, 'memory_store.db'))).toBe(false);
    expect(await statsDetails(t)).toMatchObject({ db_path: join(home, 'agent', 'facts.db'), db_path_from: 'config.yaml' });
  }
});

test('~ is the user home (Path.expanduser) and a relative path is taken from the working directory', async () => {
  const tilde = await withConfig(dbPath('~/memories/facts.db'));
  expect((await tilde.t.json('POST', '/api/memory', { content: 'under the home' })).status).toBe(201);
  expect(contents(join(tilde.dir, 'memories', 'facts.db'))).toEqual(['under the home']);

  const relative = await withConfig(dbPath('relative/facts.db'));
  expect((await relative.t.json('POST', '/api/memory', { content: 'relative' })).status).toBe(201);
  expect(contents(join(relative.dir, 'relative', 'facts.db'))).toEqual(['relative']);
});

test('HOLOGRAPHIC_DB_PATH wins over config.yaml; without either the default file is used', async () => {
  const explicit = join(tempDir(), 'explicit.db');
  const { t } = await withConfig(dbPath('$HERMES_HOME/agent.db'), { HOLOGRAPHIC_DB_PATH: explicit });
  expect((await t.json('POST', '/api/memory', { content: 'explicit' })).status).toBe(201);
  expect(contents(explicit)).toEqual(['explicit']);
  expect(await statsDetails(t)).toMatchObject({ db_path: explicit, db_path_from: 'HOLOGRAPHIC_DB_PATH' });

  for (const yaml of ['model: x\n', 'plugins:\n  hermes-memory-store:\n    db_path: ~\n', 'plugins:\n  hermes-memory-store:\n    db_path: 42\n']) {
    const d = await withConfig(yaml);
    expect((await d.t.json('POST', '/api/memory', { content: 'default' })).status).toBe(201);
    expect(contents(join(d.home, 'memory_store.db'))).toEqual(['default']);
    expect(await statsDetails(d.t)).toMatchObject({ db_path: join(d.home, 'memory_store.db'), db_path_from: 'default' });
  }
});

test('a db_path changed in config.yaml is followed on the next request, as the agent does at its next session', async () => {
  const { t, home } = await withConfig(dbPath('$HERMES_HOME/first.db'));
  expect((await t.json('POST', '/api/memory', { content: 'in the first file' })).status).toBe(201);
  writeFileSync(join(home, 'config.yaml'), dbPath('$HERMES_HOME/second.db'));
  expect((await t.json('POST', '/api/memory', { content: 'in the second file' })).status).toBe(201);
  expect(contents(join(home, 'first.db'))).toEqual(['in the first file']);
  expect(contents(join(home, 'second.db'))).toEqual(['in the second file']);
  expect((await t.json<{ total: number }>('GET', '/api/memory')).body.total).toBe(1);
  // A config.yaml that stops parsing keeps the file in use (the agent keeps its loaded config too).
  writeFileSync(join(home, 'config.yaml'), 'plugins: [unclosed\n');
  expect((await t.json('POST', '/api/memory', { content: 'still the second file' })).status).toBe(201);
  expect(contents(join(home, 'second.db'))).toEqual(['in the second file', 'still the second file']);
});

test('${VAR} expands from the environment as Hermes does, but only the entry as written is ever shown', async () => {
  const base = tempDir();
  const secret = 'sk-live-0123456789abcdef';
  process.env.OPTX_TEST_MEMORY_DIR = base;
  process.env.OPTX_TEST_SECRET = secret;
  try {
    const ok = await withConfig(dbPath('${OPTX_TEST_MEMORY_DIR}/facts.db'));
    expect((await ok.t.json('POST', '/api/memory', { content: 'via a variable' })).status).toBe(201);
    expect(contents(join(base, 'facts.db'))).toEqual(['via a variable']);
    expect(await statsDetails(ok.t)).toMatchObject({ db_path: '${OPTX_TEST_MEMORY_DIR}/facts.db', db_path_from: 'config.yaml' });

    // A path that cannot be opened (its parent is a regular file): the reason must not quote the expanded path.
    writeFileSync(join(base, 'plain-file'), 'x');
    const bad = await withConfig(dbPath(`${base}/plain-file/\${OPTX_TEST_SECRET}/facts.db`));
    const res = await bad.t.fetch('/api/memory');
    expect(res.status).toBe(503);
    const stats = await bad.t.fetch('/api/memory/stats');
    for (const text of [await res.text(), await stats.text()]) expect(text).not.toContain(secret);
  } finally {
    delete process.env.OPTX_TEST_MEMORY_DIR;
    delete process.env.OPTX_TEST_SECRET;
  }
});

test('a write waiting for the agent\'s lock when db_path changes is answered 503 (not 500) with nothing written, and the retry lands in the new file', async () => {
  const { t, home } = await withConfig(dbPath('$HERMES_HOME/first.db'));
  expect((await t.json('POST', '/api/memory', { content: 'in the first file' })).status).toBe(201);
  const holder = new Database(join(home, 'first.db'));
  holder.run('BEGIN IMMEDIATE');
  const waiting = t.json('POST', '/api/memory', { content: 'waited for the lock' });
  await Bun.sleep(50);
  writeFileSync(join(home, 'config.yaml'), dbPath('$HERMES_HOME/second.db'));
  // This request finds the new path and closes the first file's connection under the waiting write.
  expect((await t.json('GET', '/api/memory')).status).toBe(200);
  holder.run('COMMIT');
  holder.close();
  const res = await waiting;
  expect(res.status).toBe(503);
  expect(res.body).toMatchObject({ code: 'memory_unavailable' });
  expect((await t.json('POST', '/api/memory', { content: 'waited for the lock' })).status).toBe(201);
  expect(contents(join(home, 'first.db'))).toEqual(['in the first file']);
  expect(contents(join(home, 'second.db'))).toEqual(['waited for the lock']);
});

test('a search without words waiting its turn behind a sliced read when db_path changes is read from the new file, not answered 500', async () => {
  const { t, home } = await withConfig(dbPath('$HERMES_HOME/first.db'));
  expect((await t.json('POST', '/api/memory', { content: 'in the first file' })).status).toBe(201);
  const agent = new Database(join(home, 'first.db'));
  // Enough facts for several slices (FACT_SLICE ids each): the first read spans turns of the event loop.
  agent.transaction(() => {
    for (let i = 0; i < 7000; i++) agent.run("INSERT INTO facts (content, category) VALUES (?, 'general')", [`fact ${i}`]);
  })();
  const search = () => t.json('POST', '/api/memory/search', { query: '', filters: { category: 'general' } });
  const first = search();
  await Bun.sleep(0);
  // An agent commit: nothing kept is valid, so the next search waits in line behind the first.
  agent.run("INSERT INTO facts (content, category) VALUES ('late', 'general')");
  agent.close();
  const waiting = search();
  const stats = t.json('GET', '/api/memory/stats');
  // A turn for both to reach the backend and wait in line.
  await Bun.sleep(0);
  writeFileSync(join(home, 'config.yaml'), dbPath('$HERMES_HOME/second.db'));
  // This request finds the new path and closes the first file's connection under the waiting reads.
  expect((await t.json('GET', '/api/memory')).status).toBe(200);
  // The first read's snapshot was taken before the agent's late commit.
  expect((await first).body).toMatchObject({ total: 7001 });
  // Before: the waiting search's turn read through the closed connection, a 500 internal_error.
  expect(await waiting).toMatchObject({ status: 200, body: { total: 0, results: [] } });
  expect(await stats).toMatchObject({ status: 200, body: { status: 'ok', total_memories: 0, db_path: join(home, 'second.db') } });
});

test("a db_path naming the sidecar's own database is refused at once (503 memory_unavailable), its tables left untouched", async () => {
  const { t, home } = await withConfig('model: x\n');
  const own = t.deps.db.sqlite.filename;
  writeFileSync(join(home, 'config.yaml'), dbPath(own));
  const started = performance.now();
  const res = await t.json('POST', '/api/memory', { content: 'with metadata', metadata: { source: 'runbook' } });
  // It used to wait on its own lock for ~5 s and answer 503 memory_busy, "try again", every time.
  expect([res.status, (res.body as { code: string }).code]).toEqual([503, 'memory_unavailable']);
  expect(performance.now() - started).toBeLessThan(2000);
  expect(t.deps.db.sqlite.query("SELECT name FROM sqlite_master WHERE name = 'facts'").get()).toBeNull();
  writeFileSync(join(home, 'config.yaml'), dbPath('$HERMES_HOME/facts.db'));
  expect((await t.json('POST', '/api/memory', { content: 'with metadata', metadata: { source: 'runbook' } })).status).toBe(201);
});

test('a db_path that is a link to a file not there yet: the file is created through the link, readable by its owner only', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'synced'));
  const target = join(dir, 'synced', 'memory_store.db');
  const link = join(dir, 'memory_store.db');
  symlinkSync(target, link);
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: link } });
  apps.push(t);
  expect((await t.json('POST', '/api/memory', { content: 'the user lives in Lisbon' })).status).toBe(201);
  expect(contents(target)).toEqual(['the user lives in Lisbon']);
  // The link made `wx` fail with EEXIST, and SQLite then created the target 0644 (umask 022).
  const mode = (p: string) => statSync(p).mode & 0o777;
  expect([mode(target), mode(`${target}-wal`), mode(`${target}-shm`)]).toEqual([0o600, 0o600, 0o600]);
});

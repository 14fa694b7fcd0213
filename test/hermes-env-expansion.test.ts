/**
 * Values of config.yaml the agent resolves against its environment, which is the process
 * environment with `$HERMES_HOME/.env` loaded over it (NousResearch/hermes-agent
 * hermes_cli/env_loader.py `load_hermes_dotenv`: python-dotenv, `override=True`, `${VAR}` in .env
 * values interpolated). Its config loader (hermes_cli/config.py `_expand_env_vars`) then expands
 * `${VAR}` and `${env:VAR}` in every string (db_path, hrr_dim); skills.external_dirs goes through
 * `os.path.expandvars` (`$VAR` too). A variable set only in .env used to be left unexpanded by the
 * sidecar: the agent and the sidecar opened two memory files, and external skills were not listed.
 * Expansions are never shown: a variable may hold a key.
 */
import { afterEach, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../src/lib/log';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';
import { contents, dbPath } from './helpers/memory-file';

const apps: TestApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});

const SECRET = 'sk-live-envx-0123456789abcdef';

async function withHome(yaml: string, dotenv: string, lines?: string[]): Promise<{ t: TestApp; home: string }> {
  const home = join(tempDir(), 'home');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'config.yaml'), yaml);
  writeFileSync(join(home, '.env'), dotenv);
  const log = lines ? createLogger({ level: 'debug', format: 'json', write: (l) => lines.push(l) }) : undefined;
  const t = await makeTestApp({ env: { MEMORY_BACKEND: 'holographic', HERMES_HOME: home }, log });
  apps.push(t);
  return { t, home };
}

test("db_path's ${VAR} expands from $HERMES_HOME/.env, which wins over the process environment, as the agent loads it", async () => {
  const shared = tempDir();
  const stale = tempDir();
  process.env.OPTX_ENVX_MEMORY_DIR = stale;
  try {
    for (const written of ['${OPTX_ENVX_MEMORY_DIR}/facts.db', '${env:OPTX_ENVX_MEMORY_DIR}/facts.db', '${ OPTX_ENVX_MEMORY_DIR }/facts.db']) {
      const file = join(shared, 'facts.db');
      const { t } = await withHome(dbPath(written), `OPTX_ENVX_MEMORY_DIR=${shared}\n`);
      expect((await t.json('POST', '/api/memory', { content: `via ${written}` })).status).toBe(201);
      expect(contents(file)).toContain(`via ${written}`);
      expect(existsSync(join(stale, 'facts.db'))).toBe(false);
      const stats = await t.json<Record<string, unknown>>('GET', '/api/memory/stats');
      expect(stats.body).toMatchObject({ db_path: written, db_path_from: 'config.yaml' });
    }
  } finally {
    delete process.env.OPTX_ENVX_MEMORY_DIR;
  }
});

test('.env values are interpolated as python-dotenv does (${VAR}, ${VAR:-default}, quoted or not), and a changed .env is followed', async () => {
  const base = tempDir();
  const dotenv = `OPTX_ENVX_BASE=${base}\nOPTX_ENVX_MEMORY_DIR="\${OPTX_ENVX_BASE}/\${OPTX_ENVX_UNSET:-mem}"\n`;
  const { t, home } = await withHome(dbPath('${OPTX_ENVX_MEMORY_DIR}/facts.db'), dotenv);
  expect((await t.json('POST', '/api/memory', { content: 'interpolated' })).status).toBe(201);
  expect(contents(join(base, 'mem', 'facts.db'))).toEqual(['interpolated']);

  // The gateway reloads .env on every turn: a new value moves the agent's file, and the sidecar's.
  writeFileSync(join(home, '.env'), `OPTX_ENVX_MEMORY_DIR=${join(base, 'moved')}\n`);
  expect((await t.json('POST', '/api/memory', { content: 'moved' })).status).toBe(201);
  expect(contents(join(base, 'moved', 'facts.db'))).toEqual(['moved']);

  // python-dotenv 1.x interpolates single-quoted values too; an unset variable without default is empty.
  writeFileSync(join(home, 'config.yaml'), dbPath('$HERMES_HOME/${OPTX_ENVX_FILE}.db'));
  writeFileSync(join(home, '.env'), `OPTX_ENVX_NAME=quoted\nOPTX_ENVX_FILE='\${OPTX_ENVX_NAME}\${OPTX_ENVX_UNSET}'\n`);
  expect((await t.json('POST', '/api/memory', { content: 'quoted' })).status).toBe(201);
  expect(contents(join(home, 'quoted.db'))).toEqual(['quoted']);
});

test('a db_path naming a secret of .env never shows its value, in responses or logs', async () => {
  const base = tempDir();
  writeFileSync(join(base, 'plain-file'), 'x');
  const lines: string[] = [];
  const { t } = await withHome(dbPath(`${base}/plain-file/\${OPTX_ENVX_KEY}/facts.db`), `OPTX_ENVX_KEY=${SECRET}\n`, lines);
  const res = await t.fetch('/api/memory');
  expect(res.status).toBe(503);
  const stats = await t.fetch('/api/memory/stats');
  for (const text of [await res.text(), await stats.text(), ...lines]) expect(text).not.toContain(SECRET);
});

test("hrr_dim written as ${VAR} is the agent's dimension; an unusable expansion is logged as written", async () => {
  const { t, home } = await withHome('plugins:\n  hermes-memory-store:\n    hrr_dim: ${OPTX_ENVX_DIM}\n', 'OPTX_ENVX_DIM=2048\n');
  expect((await t.json('POST', '/api/memory', { content: 'A fact', category: 'general' })).status).toBe(201);
  const db = new Database(join(home, 'memory_store.db'), { readonly: true });
  const row = db.query<{ n: number }, []>('SELECT length(hrr_vector) AS n FROM facts').get();
  db.close();
  expect(row?.n).toBe(2048 * 8);

  const lines: string[] = [];
  const bad = await withHome('plugins:\n  hermes-memory-store:\n    hrr_dim: ${OPTX_ENVX_KEY}\n', `OPTX_ENVX_KEY=${SECRET}\n`, lines);
  expect((await bad.t.json('POST', '/api/memory', { content: 'A fact', category: 'general' })).status).toBe(201);
  expect(lines.some((l) => l.includes('hrr_dim'))).toBe(true);
  for (const l of lines) expect(l).not.toContain(SECRET);
});

test('skills.external_dirs expands $VAR and ${VAR} from .env (os.path.expandvars after the .env load); labels stay as written', async () => {
  const ext = join(tempDir(), 'ext');
  writeFile(join(ext, 'tools/jq/SKILL.md'), skillMd({ name: 'jq' }));
  writeFile(join(`${ext}-two`, 'tools/yq/SKILL.md'), skillMd({ name: 'yq' }));
  const { t } = await withHome('skills:\n  external_dirs: ["$OPTX_ENVX_SKILLS", "${OPTX_ENVX_SKILLS}-two", "${OPTX_ENVX_KEY}/nowhere"]\n', `OPTX_ENVX_SKILLS=${ext}\nOPTX_ENVX_KEY=${SECRET}\n`);
  const res = await t.fetch('/api/skills');
  const text = await res.text();
  expect(res.status).toBe(200);
  const body = JSON.parse(text) as { skills: { name: string; source: string }[]; warnings?: string[] };
  expect(body.skills.filter((s) => s.source === 'external').map((s) => s.name).sort()).toEqual(['jq', 'yq']);
  expect(body.warnings).toEqual(['skills.external_dirs entry ${OPTX_ENVX_KEY}/nowhere is not a directory.']);
  expect(text).not.toContain(SECRET);
});

test('the two expansions and the .env interpolation follow Hermes, os.path.expandvars and python-dotenv 1.2', async () => {
  const { expandConfigRefs, expandShellVars } = await import('../src/hermes/agent-env');
  const { interpolateDotenv, parseDotenvPairs } = await import('../src/lib/dotenv');
  const vars: Record<string, string> = { A: '/a', B: '$A', '1x': 'digit', 'A-B': 'dash' };
  const lookup = (name: string) => vars[name];

  // Config loader: `${NAME}`, `${env:NAME}`, spaces trimmed; other sources, `${env:}`, unset and bare `$A` kept.
  expect(expandConfigRefs('${A}|${env:A}|${ A }|${vault:A}|${env:}|${NOPE}|$A', lookup)).toEqual({ value: '/a|/a|/a|${vault:A}|${env:}|${NOPE}|$A', names: ['A', 'A', 'A'] });
  // expandvars: `$word` (a digit may start it), `${anything}`, unset kept, an expansion not expanded again.
  expect(expandShellVars('$A/${B}/$1x/${A-B}/$NOPE/${}', lookup)).toEqual({ value: '/a/$A/digit/dash/$NOPE/${}', names: ['A', 'B', '1x', 'A-B'] });

  // Checked against python-dotenv 1.2.2 load_dotenv(override=True) with HOME=/h.
  const text = "A=/x\nB='${A}/y'\nC=\"${A}/${U:-mem}\"\nD=${A}\\$ ${ A }\nE=${HOME}\nA=/z\nF=${A}\n";
  const got = interpolateDotenv(parseDotenvPairs(text), (name) => (name === 'HOME' ? '/h' : undefined));
  expect(Object.fromEntries(got)).toEqual({ A: '/z', B: '/x/y', C: '/x/mem', D: '/x\\$ ', E: '/h', F: '/z' });
});

test("API_SERVER_KEY of .env is the agent's key after python-dotenv's interpolation, at start and after a change", async () => {
  const { loadConfig } = await import('../src/config');
  const { HomeApiKey } = await import('../src/hermes/api-key');
  const { AgentEnv } = await import('../src/hermes/agent-env');
  const dir = tempDir();
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, '.env'), 'OPTX_ENVX_SHARED=key-one\nAPI_SERVER_KEY="${OPTX_ENVX_SHARED}"\n');
  const req = loadConfig({ argv: [], env: { HERMES_HOME: home }, cwd: dir, home: dir });
  if (req.kind !== 'run') throw new Error('unexpected CLI request');
  expect(req.config.hermes.apiKey).toBe('key-one');
  const key = new HomeApiKey(new AgentEnv(join(home, '.env')));
  expect(key.current()).toBe('key-one');
  writeFileSync(join(home, '.env'), 'OPTX_ENVX_SHARED=key-two\nAPI_SERVER_KEY=${OPTX_ENVX_SHARED}-x\n');
  expect(key.current()).toBe('key-two-x');
});

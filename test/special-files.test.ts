/**
 * The agent's home is someone else's directory: a FIFO, a directory or a link to either where a file
 * should be must never hang the server (open() of a FIFO with no writer blocks the thread that calls
 * it) or turn into a 500. Each case answers at once: the file is skipped, or a clear error names it.
 * A hang here makes the test time out.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { HermesHome } from '../src/hermes/home';
import { SkillsIndex } from '../src/modules/skills/service';

function mkfifo(path: string): void {
  const r = Bun.spawnSync(['mkfifo', path]);
  if (r.exitCode !== 0) throw new Error(`mkfifo ${path} failed: ${r.stderr.toString()}`);
}

function skill(home: string, rel: string, name: string): void {
  mkdirSync(join(home, 'skills', rel), { recursive: true });
  writeFileSync(join(home, 'skills', rel, 'SKILL.md'), `---\nname: ${name}\ndescription: ${name} skill\n---\nbody\n`);
}

let t: TestApp | null = null;
afterEach(() => {
  t?.close();
  t = null;
});

async function appWith(prepare: (home: string) => void, env: Record<string, string> = {}): Promise<TestApp> {
  const dir = tempDir('optx-special-');
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  prepare(home);
  t = await makeTestApp({ env: { HERMES_HOME: home, ...env } });
  return t;
}

describe('skills', () => {
  test('a SKILL.md linked to a FIFO is not a skill; the listing and the other skills answer at once', async () => {
    const app = await appWith((home) => {
      skill(home, 'tools/good', 'good');
      mkdirSync(join(home, 'skills', 'tools', 'piped'), { recursive: true });
      mkfifo(join(home, 'skills', 'tools', 'fifo'));
      symlinkSync('../fifo', join(home, 'skills', 'tools', 'piped', 'SKILL.md'));
      mkdirSync(join(home, 'skills', 'tools', 'raw'), { recursive: true });
      mkfifo(join(home, 'skills', 'tools', 'raw', 'SKILL.md'));
    });
    const list = await app.json<{ skills: { id: string }[]; total: number }>('GET', '/api/skills');
    expect(list.status).toBe(200);
    expect(list.body.skills.map((s) => s.id)).toEqual(['tools.good']);
    expect((await app.json('GET', '/api/skills/tools.piped')).status).toBe(404);
  });

  test('a listed SKILL.md replaced by a link to a FIFO: the next request answers at once', async () => {
    let home = '';
    const app = await appWith((h) => {
      home = h;
      skill(h, 'tools/swap', 'swap');
      mkfifo(join(h, 'skills', 'tools', 'fifo'));
    });
    expect((await app.json('GET', '/api/skills/tools.swap')).status).toBe(200);
    const file = join(home, 'skills', 'tools', 'swap', 'SKILL.md');
    rmSync(file);
    symlinkSync('../fifo', file);
    // A small tree is rechecked on every request: the link is seen, and the skill is gone.
    expect(await app.json('GET', '/api/skills/tools.swap')).toMatchObject({ status: 404, body: { code: 'skill_not_found' } });
    // A big one only once a second, so a read can meet the link before the index does.
    const index = new SkillsIndex(new HermesHome(home), { eagerLimit: 0, recheckMs: 3_600_000 });
    rmSync(file);
    skill(home, 'tools/swap', 'swap');
    expect((await index.get('tools.swap')).error).toBeUndefined();
    rmSync(file);
    symlinkSync('../fifo', file);
    expect(await index.get('tools.swap')).toMatchObject({ id: 'tools.swap', error: 'parse_failed', frontmatter: null, content: '' });
  });
});

describe('config.yaml and .env', () => {
  for (const [kind, make] of [
    ['a directory', (p: string) => mkdirSync(p)],
    ['a FIFO', mkfifo],
  ] as const) {
    test(`config.yaml that is ${kind}: config routes 503 config_unreadable, skills listed with a warning, nothing written`, async () => {
      let home = '';
      const app = await appWith((h) => {
        home = h;
        make(join(h, 'config.yaml'));
        skill(h, 'a/one', 'one');
      });
      const unreadable = { code: 'config_unreadable', detail: 'config.yaml cannot be read: it is not a regular file. Nothing was changed.' };
      for (const [method, path, body] of [['GET', '/api/config'], ['GET', '/api/config/model'], ['POST', '/api/config', { key: 'a.b', value: 1 }], ['PATCH', '/api/config', { a: 1 }], ['POST', '/api/config/model', { model: 'x' }]] as const) {
        const res = await app.json(method, path, body);
        expect({ method, path, status: res.status, body: res.body }).toEqual({ method, path, status: 503, body: unreadable as never });
      }
      const skills = await app.json<{ total: number; warnings: string[] }>('GET', '/api/skills');
      expect(skills.status).toBe(200);
      expect(skills.body.total).toBe(1);
      expect(skills.body.warnings).toEqual(['config.yaml cannot be read: it is not a regular file. skills.external_dirs and skills.disabled are not applied until it is fixed.']);
      const st = lstatSync(join(home, 'config.yaml'));
      expect(st.isDirectory() || st.isFIFO()).toBe(true);
      expect(readdirSync(home).filter((n) => n.includes('config'))).toEqual(['config.yaml']);
    });
  }

  test('a .env that becomes a FIFO after start: GET /api/config is 503 naming .env', async () => {
    let home = '';
    const app = await appWith((h) => {
      home = h;
      writeFileSync(join(h, 'config.yaml'), 'model: x\n');
    });
    expect((await app.json('GET', '/api/config')).status).toBe(200);
    mkfifo(join(home, '.env'));
    expect(await app.json('GET', '/api/config')).toMatchObject({ status: 503, body: { code: 'config_unreadable', detail: '.env cannot be read: it is not a regular file. Nothing was changed.' } });
  });
});

describe('databases of the agent', () => {
  test('a state.db that is a FIFO is no state.db: sessions are listed from the other sources', async () => {
    const app = await appWith((home) => mkfifo(join(home, 'state.db')));
    expect((await app.json('POST', '/api/sessions', { id: 'mine' })).status).toBe(201);
    const list = await app.json<{ items: { id: string }[]; total: number }>('GET', '/api/sessions');
    expect(list.status).toBe(200);
    expect(list.body.items.map((s) => s.id)).toEqual(['mine']);
  });

  test('a memory_store.db that is a FIFO: the sidecar starts, memory says so', async () => {
    const app = await appWith((home) => mkfifo(join(home, 'memory_store.db')), { MEMORY_BACKEND: 'holographic' });
    expect(await app.json('GET', '/api/memory')).toMatchObject({ status: 503, body: { code: 'memory_unavailable', detail: expect.stringContaining('is not a regular file') as never } });
    expect((await app.fetch('/health')).status).toBe(200);
  });
});

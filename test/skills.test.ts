import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { mkdirSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HermesHome } from '../src/hermes/home';
import type { SkillSummary } from '../src/modules/skills/model';
import { encodeSegment } from '../src/modules/skills/roots';
import { MAX_WALKED_DIRS } from '../src/modules/skills/scan';
import { SkillsIndex } from '../src/modules/skills/service';
import { makeTestApp, tempDir, type TestApp } from './helpers/app';
import { skillMd, writeFile, writeSkillsTree } from './helpers/hermes-home';

type Skill = SkillSummary;
interface SkillList {
  skills: Skill[];
  total: number;
  categories: string[];
  warnings?: string[];
}

let t: TestApp;
let skills: string;
let external: string;
let outside: string;

function writeConfig(extra = ''): void {
  writeFileSync(join(t.home, 'config.yaml'), `skills:\n  external_dirs:\n  - ${external}\n  disabled:\n  - kubernetes\n${extra}`);
}

async function list(query = ''): Promise<SkillList> {
  const res = await t.json<SkillList>('GET', `/api/skills${query}`);
  expect(res.status).toBe(200);
  return res.body;
}
const names = (l: SkillList) => l.skills.map((s) => s.name);

beforeEach(async () => {
  t = await makeTestApp();
  skills = join(t.home, 'skills');
  external = join(t.dir, 'external-skills');
  outside = join(t.dir, 'outside');
  writeSkillsTree(t.home, external);
  writeFile(join(outside, 'SKILL.md'), skillMd({ name: 'outsider', description: 'must never be read' }));
  writeConfig();
});
afterEach(() => t.close());

describe('GET /api/skills', () => {
  test('lists the skills of both roots with the fields of SPEC §8, sorted by category then name', async () => {
    const body = await list();
    expect(body.total).toBe(7);
    expect(body.categories).toEqual(['devops', 'research', 'tools']);
    expect(names(body)).toEqual(['[unclosed', 'standalone-skill', 'docker', 'kubernetes', 'arxiv', 'deep-reader', 'jq']);
    const byName = Object.fromEntries(body.skills.map((s) => [s.name, s]));
    expect(byName.docker).toEqual({
      id: 'devops.docker',
      name: 'docker',
      description: 'Build and run containers',
      category: 'devops',
      tags: ['containers', 'ops'],
      version: '1.10',
      author: 'Ops Team',
      platforms: ['linux', 'macos'],
      path: join(skills, 'devops/docker/SKILL.md'),
      source: 'local',
      installed: true,
      enabled: true,
    });
    // Tags from metadata.hermes.tags; disabled by name in skills.disabled.
    expect(byName.kubernetes).toMatchObject({ description: 'Deploy: clusters and pods', tags: ['k8s', 'Ops'], enabled: false });
    // No frontmatter: name from the folder, description from the first line that is not a heading.
    expect(byName.arxiv).toMatchObject({ id: 'research.arxiv', description: 'Search and summarise papers from arXiv.', version: null, tags: [] });
    // The category is the first segment, however deep the skill sits.
    expect(byName['deep-reader']).toMatchObject({ id: 'research.papers.deep.nested', category: 'research' });
    expect(byName['standalone-skill']).toMatchObject({ id: 'standalone', category: null });
    // Frontmatter that does not parse: named and described from its `key: value` lines, as Hermes reads it.
    expect(byName['[unclosed']).toMatchObject({ id: 'broken', error: 'parse_failed', description: 'oops', enabled: true });
    expect(byName.jq).toMatchObject({ source: 'external', category: 'tools', tags: ['json', 'cli'], path: join(external, 'tools/jq/SKILL.md') });
    expect(byName.jq?.id).toMatch(/^~x[0-9a-f]{8}\.tools\.jq$/);
    // Support folders and tool folders never yield skills.
    expect(names(body).some((n) => n.startsWith('decoy'))).toBe(false);
    expect(body.warnings).toBeUndefined();
  });

  test('filters by category, tag and search (case-insensitive), with a true total and paging', async () => {
    expect(names(await list('?category=DevOps'))).toEqual(['docker', 'kubernetes']);
    expect(names(await list('?tag=OPS'))).toEqual(['docker', 'kubernetes']);
    expect(names(await list('?tag=json'))).toEqual(['jq']);
    expect(names(await list('?search=PAPERS'))).toEqual(['arxiv', 'deep-reader']);
    expect(names(await list('?search=k8s'))).toEqual(['kubernetes']);
    expect(names(await list('?search=ops&category=devops&tag=containers'))).toEqual(['docker']);
    const none = await list('?search=nothing-matches-this');
    expect(none).toEqual({ skills: [], total: 0, categories: ['devops', 'research', 'tools'] });
    const page = await list('?limit=2&offset=1');
    expect(page.total).toBe(7);
    expect(names(page)).toEqual(['standalone-skill', 'docker']);
    expect((await list('?offset=50')).skills).toEqual([]);
  });

  test('search matches within one field: text spanning the end of the name and the start of the description is no match', async () => {
    // docker: name "docker", description "Build and run containers", tags containers, ops.
    expect(names(await list('?search=docker%0Abuild'))).toEqual([]);
    expect(names(await list('?search=containers%0Acontainers'))).toEqual([]);
    expect(names(await list('?search=ker'))).toEqual(['docker']);
    // A description written over several lines is still found by text spanning its lines.
    writeFile(join(skills, 'notes/multi/SKILL.md'), skillMd({ name: 'multi', description: '|\n  first line\n  second line' }));
    expect(names(await list('?search=line%0Asecond'))).toEqual(['multi']);
  });

  test('bad query parameters are 422', async () => {
    for (const q of ['?limit=0', '?limit=abc', '?offset=-1', '?limit=1.5', `?search=${'x'.repeat(300)}`]) {
      const res = await t.fetch(`/api/skills${q}`);
      expect(res.status, q).toBe(422);
    }
  });

  test('a config.yaml that does not parse still lists the local skills, with a warning', async () => {
    writeFileSync(join(t.home, 'config.yaml'), 'skills: [unclosed\n');
    const body = await list();
    expect(names(body)).not.toContain('jq');
    expect(body.total).toBe(6);
    expect(body.warnings?.[0]).toContain('config.yaml does not parse');
  });

  test('a missing external dir is reported; a missing skills dir is an empty list until it appears', async () => {
    writeFileSync(join(t.home, 'config.yaml'), `skills:\n  external_dirs: ${join(t.dir, 'nope')}\n`);
    rmSync(skills, { recursive: true, force: true });
    const empty = await list();
    expect(empty.total).toBe(0);
    expect(empty.warnings).toEqual([`skills.external_dirs entry ${join(t.dir, 'nope')} is not a directory.`]);
    writeFile(join(skills, 'fresh/SKILL.md'), skillMd({ name: 'fresh' }));
    expect(names(await list())).toEqual(['fresh']);
  });

  test('an external dir naming an environment variable is reported as written, never with the secret it expands to', async () => {
    // A client that may edit config.yaml (POST /api/config) must not read the sidecar's keys back.
    process.env.SKILLS_TEST_SECRET = 'sk-secret-from-the-sidecar-env';
    try {
      const set = await t.json('POST', '/api/config', { key: 'skills.external_dirs', value: ['$SKILLS_TEST_SECRET', '${SKILLS_TEST_SECRET}/x'] });
      expect(set.status).toBe(200);
      const res = await t.fetch('/api/skills');
      const text = await res.text();
      expect(text).not.toContain('sk-secret-from-the-sidecar-env');
      expect((JSON.parse(text) as SkillList).warnings).toEqual([
        'skills.external_dirs entry $SKILLS_TEST_SECRET is not a directory.',
        'skills.external_dirs entry ${SKILLS_TEST_SECRET}/x is not a directory.',
      ]);
    } finally {
      delete process.env.SKILLS_TEST_SECRET;
    }
  });
});

describe('a root far too big to be a skills tree', () => {
  test('the walk stops after MAX_WALKED_DIRS folders with a warning; what was found is listed', async () => {
    const wide = join(t.dir, 'wide');
    for (let i = 0; i <= MAX_WALKED_DIRS; i++) mkdirSync(join(wide, `d${String(i).padStart(5, '0')}`), { recursive: true });
    writeFile(join(wide, 'a-first/SKILL.md'), skillMd({ name: 'first-found' }));
    writeFile(join(wide, 'zz-last/SKILL.md'), skillMd({ name: 'never-reached' }));
    writeFileSync(join(t.home, 'config.yaml'), `skills:\n  external_dirs: ${wide}\n`);
    try {
      for (let round = 0; round < 2; round++) {
        const body = await list();
        expect(names(body)).toContain('first-found');
        expect(names(body)).not.toContain('never-reached');
        expect(body.warnings).toEqual([`The skills walk stopped after ${MAX_WALKED_DIRS} folders (in ${wide}); skills below the rest are not listed. Point skills.external_dirs at the folders that hold skills.`]);
      }
    } finally {
      // Removed here, within the test's own time limit: on a loaded machine deleting 4,000 folders
      // in the shared afterEach hook overran the hook's shorter limit.
      rmSync(wide, { recursive: true, force: true });
    }
  });
});

describe('GET /api/skills/{id}', () => {
  test('returns the fields of the listing plus the frontmatter and the whole file', async () => {
    const res = await t.json<Skill & { frontmatter: Record<string, unknown>; content: string }>('GET', '/api/skills/devops.docker');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'devops.docker', name: 'docker', category: 'devops', installed: true, enabled: true });
    expect(res.body.frontmatter).toEqual({ name: 'docker', description: 'Build and run containers', tags: ['containers', 'ops'], version: 1.1, author: 'Ops Team', platforms: ['linux', 'macos'] });
    expect(res.body.content).toStartWith('---\nname: docker\n');
    expect(res.body.content).toEndWith('The body.\n');
    const ext = (await list('?tag=json')).skills[0] as Skill;
    expect((await t.json('GET', `/api/skills/${ext.id}`)).body).toMatchObject({ name: 'jq', source: 'external' });
  });

  test('a broken file comes with error, no frontmatter and its content', async () => {
    const res = await t.json<{ error: string; frontmatter: null; content: string }>('GET', '/api/skills/broken');
    expect(res.status).toBe(200);
    expect(res.body.error).toBe('parse_failed');
    expect(res.body.frontmatter).toBeNull();
    expect(res.body.content).toContain('name: [unclosed');
  });

  test('frontmatter made cyclic or huge by YAML aliases counts as broken', async () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]', 'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]'];
    writeFile(join(skills, 'bomb/SKILL.md'), `---\nname: bomb\n${bomb.join('\n')}\n---\nbody\n`);
    writeFile(join(skills, 'cycle/SKILL.md'), '---\nname: cycle\nself: &s {next: *s}\n---\nbody\n');
    const body = await list('?search=');
    const got = Object.fromEntries(body.skills.map((s) => [s.id, s]));
    expect(got.bomb?.error).toBe('parse_failed');
    const res = await t.json<{ error: string }>('GET', '/api/skills/bomb');
    expect(res.body.error).toBe('parse_failed');
    expect(got.cycle?.error).toBe('parse_failed');
  });

  test('unknown ids and every way out of the roots are 404', async () => {
    symlinkSync(outside, join(skills, 'escape'));
    mkdirSync(join(skills, 'devops/linked'));
    symlinkSync(join(outside, 'SKILL.md'), join(skills, 'devops/linked/SKILL.md'));
    const body = await list();
    expect(names(body)).not.toContain('outsider');
    for (const id of [
      'nope',
      '..',
      '%2E%2E',
      '..%2F..%2Fetc%2Fpasswd',
      '%2Fetc%2Fpasswd',
      'devops%2Fdocker',
      'devops.docker.references.old-copy',
      '.git.hooks',
      'escape',
      'devops.linked',
      encodeURIComponent(join(outside, 'SKILL.md')),
      '~root',
    ]) {
      const res = await t.fetch(`/api/skills/${id}`);
      const text = await res.text();
      expect(res.status, id).toBe(404);
      expect(text).not.toContain('must never be read');
    }
  });

  test('a SKILL.md swapped for a symlink out of the roots after listing is 404', async () => {
    // A big tree (no per-request stat of every file) still holds the old entry: the read itself must refuse.
    const index = new SkillsIndex(new HermesHome(t.home), { eagerLimit: 0, recheckMs: 60_000 });
    await index.list({ offset: 0 });
    await list();
    const file = join(skills, 'standalone/SKILL.md');
    unlinkSync(file);
    symlinkSync(join(outside, 'SKILL.md'), file);
    await expect(index.get('standalone')).rejects.toThrow('No skill has this id.');
    const res = await t.fetch('/api/skills/standalone');
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('must never be read');
  });

  test('symlinks inside the roots are followed, and a skill reached twice is listed once', async () => {
    symlinkSync(join(skills, 'devops'), join(skills, 'zz-devops-again'));
    symlinkSync(join(skills, 'research/arxiv/SKILL.md'), join(t.home, 'arxiv-link.md'));
    mkdirSync(join(skills, 'aliases/arxiv2'), { recursive: true });
    symlinkSync(join(skills, 'research/arxiv/SKILL.md'), join(skills, 'aliases/arxiv2/SKILL.md'));
    const body = await list();
    expect(names(body).filter((n) => n === 'docker')).toHaveLength(1);
    const alias = body.skills.find((s) => s.id === 'aliases.arxiv2');
    expect(alias?.description).toBe('Search and summarise papers from arXiv.');
    expect((await t.fetch('/api/skills/aliases.arxiv2')).status).toBe(200);
  });
});

describe('the index follows the tree', () => {
  test('new, changed and removed skills show on the next request', async () => {
    await list();
    writeFile(join(skills, 'devops/terraform/SKILL.md'), skillMd({ name: 'terraform', description: 'Plans infra' }));
    writeFile(join(skills, 'newcat/thing/SKILL.md'), skillMd({ name: 'thing' }));
    let body = await list();
    expect(names(body)).toContain('terraform');
    expect(body.categories).toEqual(['devops', 'newcat', 'research', 'tools']);

    // A folder first, its SKILL.md later.
    mkdirSync(join(skills, 'devops/later'));
    expect(names(await list())).not.toContain('later-skill');
    writeFileSync(join(skills, 'devops/later/SKILL.md'), skillMd({ name: 'later-skill' }));
    expect(names(await list())).toContain('later-skill');

    // Edited in place (same size or not), removed, renamed.
    writeFileSync(join(skills, 'devops/terraform/SKILL.md'), skillMd({ name: 'terraform', description: 'Applies infra' }));
    rmSync(join(skills, 'standalone'), { recursive: true });
    renameSync(join(skills, 'research/arxiv'), join(skills, 'research/arxiv-search'));
    body = await list();
    expect(body.skills.find((s) => s.name === 'terraform')?.description).toBe('Applies infra');
    expect(names(body)).not.toContain('standalone-skill');
    expect(body.skills.find((s) => s.name === 'arxiv-search')?.id).toBe('research.arxiv-search');
  });

  test('the answer text kept for an unchanged listing is never served after the tree, the settings or the query changed', async () => {
    const text = async (query = '') => {
      const res = await t.fetch(`/api/skills${query}`);
      expect([res.status, res.headers.get('content-type')]).toEqual([200, 'application/json; charset=utf-8']);
      return res.text();
    };
    const first = await text();
    expect(await text()).toBe(first);
    expect(JSON.parse(await text('?limit=1')).skills).toHaveLength(1);
    expect(await text()).toBe(first);
    writeConfig('  - docker\n');
    const disabled = JSON.parse(await text()) as SkillList;
    expect(disabled.skills.find((s) => s.name === 'docker')?.enabled).toBe(false);
    writeFileSync(join(t.home, 'config.yaml'), 'skills: [unclosed');
    expect((JSON.parse(await text()) as SkillList).warnings).toHaveLength(1);
    writeConfig();
    writeFile(join(skills, 'devops/terraform/SKILL.md'), skillMd({ name: 'terraform' }));
    const grown = JSON.parse(await text()) as SkillList;
    expect([grown.total, grown.warnings, names(grown).includes('terraform')]).toEqual([(JSON.parse(first) as SkillList).total + 1, undefined, true]);
  });

  test('a skill reached from another root after external_dirs changed gets the id and category of its new place', async () => {
    const ext = join(t.dir, 'ext');
    writeFile(join(ext, 'devops/deploy/SKILL.md'), skillMd({ name: 'deploy' }));
    const find = async () => (await list()).skills.find((s) => s.name === 'deploy');
    writeFileSync(join(t.home, 'config.yaml'), `skills:\n  external_dirs: ["${ext}"]\n`);
    const before = await find();
    expect(before?.category).toBe('devops');
    writeFileSync(join(t.home, 'config.yaml'), `skills:\n  external_dirs: ["${join(ext, 'devops')}"]\n`);
    const after = await find();
    // What a fresh index (a restart) says about the same tree.
    const fresh = (await new SkillsIndex(new HermesHome(t.home)).list({ offset: 0 })).skills.find((s) => s.name === 'deploy');
    expect(after).toEqual(fresh as Skill);
    expect([after?.category, after?.id === before?.id]).toEqual([null, false]);
    expect((await t.fetch(`/api/skills/${after?.id}`)).status).toBe(200);
    expect((await t.fetch(`/api/skills/${before?.id}`)).status).toBe(404);
  });

  test('config changes apply: disabled flags at once, external_dirs as new roots', async () => {
    expect((await list('?tag=k8s')).skills[0]?.enabled).toBe(false);
    const other = join(t.dir, 'more-skills');
    writeFile(join(other, 'x/SKILL.md'), skillMd({ name: 'x-skill' }));
    writeFileSync(join(t.home, 'config.yaml'), `skills:\n  external_dirs: ["${other}"]\n  disabled: '["docker"]'\n`);
    const body = await list();
    expect(names(body)).toContain('x-skill');
    expect(names(body)).not.toContain('jq');
    expect(body.skills.find((s) => s.name === 'kubernetes')?.enabled).toBe(true);
    expect(body.skills.find((s) => s.name === 'docker')?.enabled).toBe(false);
  });

  test('a change within the directory timestamp tick is still seen (racy directories)', async () => {
    const dir = join(skills, 'devops');
    const tick = new Date(Math.floor(Date.now() / 1000) * 1000);
    utimesSync(dir, tick, tick);
    await list();
    writeFile(join(dir, 'same-tick/SKILL.md'), skillMd({ name: 'same-tick' }));
    utimesSync(dir, tick, tick); // as if the change landed in the same tick: the stamp alone cannot tell
    expect(statSync(dir).mtimeMs).toBe(tick.getTime());
    expect(names(await list())).toContain('same-tick');
  });

  test('requests arriving during a scan wait for it and all get the whole, same listing', async () => {
    for (let i = 0; i < 40; i++) writeFile(join(skills, `bulk/skill-${i}/SKILL.md`), skillMd({ name: `bulk-${i}` }));
    const index = new SkillsIndex(new HermesHome(t.home));
    const [a, b, c] = await Promise.all([index.list({ offset: 0 }), index.list({ offset: 0 }), index.get('bulk.skill-7')]);
    expect(a.skills.filter((s) => s.name.startsWith('bulk-')).length).toBe(40);
    expect(b).toEqual(a);
    expect(c.name).toBe('bulk-7');
    // A SKILL.md that is not UTF-8 is read in the background like the others, and listed as broken.
    writeFileSync(join(skills, 'bulk/skill-3/SKILL.md'), Buffer.from([0x2d, 0x2d, 0x2d, 0x0a, 0xff, 0xfe, 0x0a]));
    const again = await index.list({ offset: 0 });
    expect(again.skills.find((s) => s.id === 'bulk.skill-3')).toMatchObject({ name: 'skill-3', error: 'parse_failed' });
  });

  test('big trees re-check SKILL.md edits at most once per interval; structure at once; GET always fresh', async () => {
    let now = Date.now();
    const index = new SkillsIndex(new HermesHome(t.home), { now: () => now, eagerLimit: 2, recheckMs: 1000 });
    const describeOf = async (name: string) => (await index.list({ offset: 0 })).skills.find((s) => s.name === name)?.description;
    expect(await describeOf('standalone-skill')).toBe('Works alone');
    writeFileSync(join(skills, 'standalone/SKILL.md'), skillMd({ name: 'standalone-skill', description: 'Edited in place' }));
    expect(await describeOf('standalone-skill')).toBe('Works alone');
    expect((await index.get('standalone')).description).toBe('Edited in place');
    writeFile(join(skills, 'devops/brand-new/SKILL.md'), skillMd({ name: 'brand-new' }));
    expect((await index.list({ offset: 0 })).skills.map((s) => s.name)).toContain('brand-new');
    now += 1000;
    expect(await describeOf('standalone-skill')).toBe('Edited in place');
  });

  test('big trees: a wall clock set back (NTP) does not stop the re-checks until it has caught up', async () => {
    let now = Date.now();
    const index = new SkillsIndex(new HermesHome(t.home), { now: () => now, eagerLimit: 2, recheckMs: 1000 });
    const describeOf = async (name: string) => (await index.list({ offset: 0 })).skills.find((s) => s.name === name)?.description;
    expect(await describeOf('standalone-skill')).toBe('Works alone');
    now -= 3_600_000;
    writeFileSync(join(skills, 'standalone/SKILL.md'), skillMd({ name: 'standalone-skill', description: 'Edited in place' }));
    now += 1000;
    expect(await describeOf('standalone-skill')).toBe('Edited in place');
  });
});

describe('skill ids', () => {
  test('are URL-safe, and different folder paths never share an id', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 6, unit: 'grapheme' }), { minLength: 1, maxLength: 3 }), fc.array(fc.string({ minLength: 1, maxLength: 6, unit: 'grapheme' }), { minLength: 1, maxLength: 3 }), (a, b) => {
        const ia = a.map(encodeSegment).join('.');
        const ib = b.map(encodeSegment).join('.');
        expect(ia).toMatch(/^[A-Za-z0-9_.~-]+$/);
        expect(encodeURIComponent(ia)).toBe(ia);
        if (a.join('/') !== b.join('/')) expect(ia).not.toBe(ib);
        // Never the external prefix or the local root id.
        expect(ia.startsWith('~x') || ia.startsWith('~r')).toBe(false);
      }),
    );
  });

  test('a skills dir given as an external root under several names is scanned once', async () => {
    const home = tempDir('optx-skills-');
    const hermes = new HermesHome(home);
    writeFile(join(home, 'skills/a/SKILL.md'), skillMd({ name: 'a' }));
    writeFileSync(join(home, 'config.yaml'), `skills:\n  external_dirs: [skills, ./skills/, "$HOME_NOT_SET/x"]\n`);
    const body = await new SkillsIndex(hermes).list({ offset: 0 });
    expect(body.skills.map((s) => s.id)).toEqual(['a']);
    rmSync(home, { recursive: true, force: true });
  });
});

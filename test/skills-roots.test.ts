/** skills.external_dirs entries that cannot be reached never break the skills routes (SPEC §8). */
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';

let t: TestApp;

beforeEach(async () => {
  t = await makeTestApp();
  writeFile(join(t.home, 'skills/tools/jq/SKILL.md'), skillMd({ name: 'jq' }));
});
afterEach(() => t.close());

test('an external dir below a file (ENOTDIR) or in a symlink loop (ELOOP) is a warning, not a 500, and is picked up once it exists', async () => {
  const notes = join(t.dir, 'notes.md');
  writeFileSync(notes, 'not a folder');
  symlinkSync(join(t.dir, 'loop'), join(t.dir, 'loop'));
  writeFileSync(join(t.home, 'config.yaml'), `skills:\n  external_dirs: ["${notes}/skills", "${join(t.dir, 'loop')}"]\n`);
  for (let i = 0; i < 2; i++) {
    const res = await t.json<{ skills: { id: string }[]; warnings?: string[] }>('GET', '/api/skills');
    expect(res.status).toBe(200);
    expect(res.body.skills.map((s) => s.id)).toEqual(['tools.jq']);
    expect(res.body.warnings).toHaveLength(2);
    expect((await t.fetch('/api/skills/tools.jq')).status).toBe(200);
  }
  // The file becomes a folder holding skills: the next listing has them.
  rmSync(notes);
  mkdirSync(join(notes, 'skills/x'), { recursive: true });
  writeFileSync(join(notes, 'skills/x/SKILL.md'), skillMd({ name: 'x-skill' }));
  const res = await t.json<{ skills: { name: string }[]; warnings?: string[] }>('GET', '/api/skills');
  expect(res.body.skills.map((s) => s.name)).toEqual(['x-skill', 'jq']);
  expect(res.body.warnings).toHaveLength(1);
});

test('an external dir with a NUL byte or a name too long for the system (ENAMETOOLONG) is a warning, not a 500', async () => {
  writeFileSync(join(t.home, 'config.yaml'), `skills:\n  external_dirs: ["/tmp/a\\0b", "/tmp/${'x'.repeat(5000)}"]\n`);
  const res = await t.json<{ skills: { id: string }[]; warnings?: string[] }>('GET', '/api/skills');
  expect([res.status, res.body.skills.map((s) => s.id), res.body.warnings?.length]).toEqual([200, ['tools.jq'], 2]);
});

test('a SKILL.md in a root is one skill and does not hide the skills below it; its support folders are not walked', async () => {
  type Listed = { skills: { id: string; name: string; category: string | null }[] };
  const ids = async () => (await t.json<Listed>('GET', '/api/skills')).body.skills.map((s) => s.id).sort();
  expect(await ids()).toEqual(['tools.jq']);
  // A stray SKILL.md dropped into ~/.hermes/skills: listed as ~root, everything else stays.
  writeFile(join(t.home, 'skills/SKILL.md'), skillMd({ name: 'stray' }));
  expect(await ids()).toEqual(['tools.jq', '~root'].sort());
  // An external dir that is one skill's own folder: listed, with a sibling skill, never what its support folders hold.
  const one = join(t.dir, 'one-skill');
  writeFile(join(one, 'SKILL.md'), skillMd({ name: 'one' }));
  writeFile(join(one, 'scripts/SKILL.md'), skillMd({ name: 'a-script-copy' }));
  writeFile(join(one, 'references/old/SKILL.md'), skillMd({ name: 'an-old-copy' }));
  writeFile(join(one, 'helper/SKILL.md'), skillMd({ name: 'helper' }));
  writeFileSync(join(t.home, 'config.yaml'), `skills:\n  external_dirs: ["${one}"]\n`);
  const listed = (await t.json<Listed>('GET', '/api/skills')).body.skills;
  expect(listed.map((s) => s.name).sort()).toEqual(['helper', 'jq', 'one', 'stray']);
  for (const s of listed) expect((await t.fetch(`/api/skills/${encodeURIComponent(s.id)}`)).status).toBe(200);
  // A skill added below a root that is a skill shows on the next listing.
  writeFile(join(t.home, 'skills/tools/yq/SKILL.md'), skillMd({ name: 'yq' }));
  expect(await ids()).toContain('tools.yq');
});

test('an external dir written as a URL with a credential is named in warnings as GET /api/config shows it, never with the credential', async () => {
  const token = 'ghp_R4nD0mG1tHubT0k3nV4lu3XyZ123456789';
  writeFileSync(join(t.home, 'config.yaml'), `skills:\n  external_dirs:\n  - https://x-access-token:${token}@github.com/org/skills.git\n`);
  const skills = await t.fetch('/api/skills');
  const text = await skills.text();
  expect(skills.status).toBe(200);
  expect(text).not.toContain(token);
  const shown = (await t.json<{ config: { skills: { external_dirs: string[] } } }>('GET', '/api/config')).body.config.skills.external_dirs[0];
  expect(shown).toBe('https://x-access-token:***@github.com/org/skills.git');
  expect((JSON.parse(text) as { warnings: string[] }).warnings).toEqual([`skills.external_dirs entry ${shown} is not a directory.`]);
});

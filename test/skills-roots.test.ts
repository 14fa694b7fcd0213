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

/**
 * SKILL.md files as Hermes' own loader reads them, and the listing and GET /api/skills/{id} telling
 * the same story about one file.
 */
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSkillBytes } from '../src/modules/skills/frontmatter';
import type { SkillDetail, SkillSummary } from '../src/modules/skills/model';
import { makeTestApp, type TestApp } from './helpers/app';

let t: TestApp;
function write(rel: string, content: string | Uint8Array): void {
  const dir = join(t.home, 'skills', rel);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'SKILL.md'), content);
}

async function listed(id: string): Promise<SkillSummary | undefined> {
  const res = await t.json<{ skills: SkillSummary[] }>('GET', '/api/skills');
  return res.body.skills.find((s) => s.id === id);
}

beforeEach(async () => {
  t = await makeTestApp();
});
afterEach(() => t.close());

test('a SKILL.md that is not UTF-8 is parse_failed in the listing and by id alike', async () => {
  write('latin', Buffer.from('---\nname: latin\ndescription: caf\xe9 cr\xe8me\n---\nBody\n', 'latin1'));
  const summary = await listed('latin');
  expect(summary).toMatchObject({ name: 'latin', error: 'parse_failed' });
  const detail = await t.json<SkillDetail>('GET', '/api/skills/latin');
  expect(detail.status).toBe(200);
  expect([detail.body.error, detail.body.frontmatter, detail.body.description]).toEqual(['parse_failed', null, summary?.description]);
  // The text is still shown, undecodable bytes replaced.
  expect(detail.body.content).toContain('caf\uFFFD cr\uFFFDme');
});

test('frontmatter YAML refuses (an unquoted colon) keeps the name, description and tags Hermes reads from its lines', async () => {
  writeFileSync(join(t.home, 'config.yaml'), 'skills:\n  disabled: [pdf-tools]\n');
  write('docs/pdf_tools', '---\nname: pdf-tools\ndescription: Use when: the user sends a PDF\ntags: [pdf, "docs"]\n---\n# PDF\n\nBody.\n');
  const expected = { name: 'pdf-tools', description: 'Use when: the user sends a PDF', tags: ['pdf', 'docs'], error: 'parse_failed', enabled: false };
  expect(await listed('docs.pdf_tools')).toMatchObject(expected);
  const detail = await t.json<SkillDetail>('GET', '/api/skills/docs.pdf_tools');
  expect(detail.body).toMatchObject({ ...expected, frontmatter: null });
  expect((await t.json<{ total: number }>('GET', '/api/skills?tag=PDF&search=sends')).body.total).toBe(1);
});

// A skill from a hub is anyone's text. The quotes around each tag were stripped with `/["']+$/`, which
// read a run of quotes inside a tag once per quote in it: 60,000 held a cold listing 6 s, 300,000 135 s.
// The 400,000 here take minutes, and this synchronous test then fails by the suite's 120-s limit (a
// synchronous test's time is checked when it returns; an awaited one could still pass late).
test('a tag holding a long run of quotes is read once; the quotes at its ends are dropped as before', () => {
  const run = "'".repeat(400_000);
  const file = `---\nname: quotes\ndescription: d\ntags: "'a', \\"b\\", x${run}x, ${run}, '''c'"\n---\nBody\n`;
  expect(parseSkillBytes(new TextEncoder().encode(file), 'quotes').meta.tags).toEqual(['a', 'b', `x${run}x`, 'c']);
});

test('frontmatter keys and names that every object has (__proto__, constructor, toString) round-trip, in a folder named so too', async () => {
  // The answer's schema (z.record) rebuilt frontmatter by assignment: a top-level `__proto__` key was dropped.
  write('__proto__/proto', '---\nname: proto\n__proto__:\n  polluted: 1\nconstructor: 1\ntoString: two\nmetadata:\n  __proto__: {x: 1}\n  hermes:\n    tags: [__proto__, constructor]\n---\nBody.\n');
  const summary = await listed('__proto__.proto');
  expect(summary).toMatchObject({ name: 'proto', category: '__proto__', tags: ['__proto__', 'constructor'] });
  const detail = await t.json<SkillDetail>('GET', '/api/skills/__proto__.proto');
  expect(detail.status).toBe(200);
  expect(Object.keys(detail.body.frontmatter ?? {})).toEqual(['name', '__proto__', 'constructor', 'toString', 'metadata']);
  expect(detail.body.frontmatter).toEqual(JSON.parse('{"name":"proto","__proto__":{"polluted":1},"constructor":1,"toString":"two","metadata":{"__proto__":{"x":1},"hermes":{"tags":["__proto__","constructor"]}}}'));
  for (const q of ['category=__proto__', 'tag=constructor', 'tag=__proto__']) expect((await t.json<{ total: number }>('GET', `/api/skills?${q}`)).body.total).toBe(1);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

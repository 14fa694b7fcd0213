/**
 * A path spelled with percent-escapes (docs/ARCHITECTURE.md, conventions 5): a fixed segment is matched as
 * written, so a static path with escapes is no route (404, nothing done), while a parameter is decoded and
 * still reaches its route, and an encoded slash never lets a skill id out of its roots (SPEC §8).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';
import { skillMd, writeFile } from './helpers/hermes-home';

let t: TestApp;
beforeAll(async () => {
  t = await makeTestApp();
  writeFile(join(t.home, 'skills', 'ops', 'deploy', 'SKILL.md'), skillMd({ name: 'deploy' }));
  writeFile(join(t.home, 'outside', 'SKILL.md'), skillMd({ name: 'outside' }));
});
afterAll(() => t.close());

test('a static path spelled with percent-escapes is a 404 not_found for every method, and nothing is done', async () => {
  const cases: [string, string][] = [
    ['GET', '/api/%73kills'],
    ['GET', '/%68ealth'],
    ['GET', '/api/gateway%2Dstatus'],
    ['POST', '/api/sessions/%6Eew/chat/stream'],
    ['GET', '/api/tasks/%73tats'],
  ];
  for (const [method, path] of cases) {
    const r = await t.fetch(path, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{"message":"hi"}' : undefined });
    expect([method, path, r.status, ((await r.json()) as { code: string }).code]).toEqual([method, path, 404, 'not_found']);
  }
  // No session was started by the escaped chat paths.
  expect(((await (await t.fetch('/api/sessions')).json()) as { total: number }).total).toBe(0);
});

test('a parameter with escapes reaches its route decoded; an encoded slash or dot-dot in a skill id stays 404', async () => {
  expect(((await (await t.fetch('/api/skills/%6Fps.deploy')).json()) as { name: string }).name).toBe('deploy');
  for (const id of ['ops%2Fdeploy', '..%2Foutside', '%2E%2E%2Foutside', '..%2F..%2Foutside%2FSKILL.md']) {
    expect([id, (await t.fetch(`/api/skills/${id}`)).status]).toEqual([id, 404]);
  }
});

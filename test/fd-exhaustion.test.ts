/**
 * The process out of file descriptors (a connection flood, a leak elsewhere): requests that need to
 * open a file answer 503 and name the problem, never a 500, and never as if the agent's state.db were
 * absent (an empty session list, a 404 for a session that is there). Everything works again once
 * descriptors are free. The soft limit is lowered with prlimit(1) for the test and restored after.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { closeSync, mkdirSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';
import { createStateDb } from './fixtures/state-db';

const softLimit = (): string | null => {
  const out = Bun.spawnSync(['prlimit', `--pid=${process.pid}`, '--nofile', '--raw', '--noheadings', '--output=SOFT']);
  return out.exitCode === 0 ? out.stdout.toString().trim() : null;
};
const original = Bun.which('prlimit') ? softLimit() : null;

/** Lowers the soft limit just above what is open and takes every descriptor left; returns them. */
function exhaust(): number[] {
  const open = readdirSync('/proc/self/fd').length;
  expect(Bun.spawnSync(['prlimit', `--pid=${process.pid}`, `--nofile=${open + 20}:`]).exitCode).toBe(0);
  return takeTheRest([]);
}

/**
 * Opens descriptors until none is left. Called again before each request: the files of the suite
 * share this process, and a socket an earlier test left to the collector can be closed (its
 * descriptor freed) at any moment, which once let every request here through.
 */
function takeTheRest(held: number[]): number[] {
  try {
    for (;;) held.push(openSync('/dev/null', 'r'));
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('EMFILE');
  }
  return held;
}

type Answer = { status: number; body: Record<string, unknown> };

function release(held: number[]): void {
  for (const fd of held) closeSync(fd);
  Bun.spawnSync(['prlimit', `--pid=${process.pid}`, `--nofile=${original}:`]);
}

describe.skipIf(original === null || process.platform !== 'linux')('out of file descriptors', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp();
    writeFileSync(join(t.home, 'config.yaml'), 'a: 1\n');
    mkdirSync(join(t.home, 'skills/one'), { recursive: true });
    writeFileSync(join(t.home, 'skills/one/SKILL.md'), '---\nname: one\n---\nA skill.\n');
    const fx = createStateDb(t.home, 'v19');
    fx.addSession({ id: 's1', started_at: 1_700_000_000 }, [{ role: 'user', content: 'hello', timestamp: 1_700_000_001 }]);
    fx.close();
  });
  afterAll(() => t?.close());

  test('503 naming the problem, never a 500 nor the agent\'s sessions missing; all well once descriptors are free', async () => {
    const held = exhaust();
    const answers: Record<string, [number, string]> = {};
    // What a request answered when a descriptor came free under it anyway (see takeTheRest): it must
    // then be the right answer, never a 500 nor the agent's session missing; it is asked again.
    const through: string[] = [];
    try {
      for (const [method, path, body, right] of [
        ['GET', '/api/sessions', undefined, (r: Answer) => r.status === 200 && r.body.total === 1],
        ['GET', '/api/sessions/s1/messages', undefined, (r: Answer) => r.status === 200 && r.body.total === 1],
        ['POST', '/api/sessions', { id: 's1' }, (r: Answer) => r.status === 409],
        ['POST', '/api/config', { key: 'b', value: 2 }, (r: Answer) => r.status === 200],
        ['GET', '/api/skills', undefined, (r: Answer) => r.status === 200 && r.body.total === 1],
      ] as [string, string, unknown, (r: Answer) => boolean][]) {
        for (let attempt = 0; attempt < 5; attempt++) {
          takeTheRest(held);
          const r = await t.json(method, path, body);
          answers[`${method} ${path}`] = [r.status, String(r.body.code)];
          if (r.status === 503) break;
          through.push(`${method} ${path} ${r.status} ${right(r) ? 'right' : JSON.stringify(r.body)}`);
        }
      }
      expect((await t.fetch('/health')).status).toBe(200);
    } finally {
      release(held);
    }
    expect(through.filter((a) => !a.endsWith(' right'))).toEqual([]);
    expect(answers).toEqual({
      'GET /api/sessions': [503, 'state_db_unavailable'],
      'GET /api/sessions/s1/messages': [503, 'state_db_unavailable'],
      'POST /api/sessions': [503, 'state_db_unavailable'],
      'POST /api/config': [503, 'config_unreadable'],
      'GET /api/skills': [503, 'too_many_open_files'],
    });
    expect((await t.json('GET', '/api/sessions')).body).toMatchObject({ total: 1, items: [{ id: 's1' }] });
    expect((await t.json('POST', '/api/config', { key: 'b', value: 2 })).status).toBe(200);
    expect((await t.json('GET', '/api/skills')).body).toMatchObject({ total: 1 });
  });
});

/**
 * Names every JavaScript object already has (`__proto__`, `constructor`, `toString`, …) fed to every
 * route that keys a map by a client's name: memory categories and metadata, task agents, escrow
 * tokens, config keys, SKILL.md frontmatter. Each must round-trip as sent (or be refused with a 4xx
 * that changes nothing), be counted right, and leave Object.prototype as it was. The bodies are
 * written as JSON text: an object literal `{__proto__: …}` sets a prototype and never sends the key.
 */
import { afterEach, expect, test } from 'bun:test';
import fc from 'fast-check';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from '../helpers/app';

type Json = Record<string, any>;

/** Object.prototype's own names, and the one name that is an accessor there (`__proto__`). */
const NAMES = [...new Set(['__proto__', 'constructor', 'prototype', ...Object.getOwnPropertyNames(Object.prototype)])];
/** What config edits refuse by name (docs/skills-config.md): a 422, nothing written. */
const RESERVED_CONFIG_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const ESCROW_TOKEN = /^[A-Za-z0-9_.-]{1,32}$/;

const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
/** A JSON object text whose keys are `names`, each holding `value(name)`; duplicates are left out. */
const objectText = (names: readonly string[], value: (name: string) => unknown) => `{${names.map((n) => `${JSON.stringify(n)}:${JSON.stringify(value(n))}`).join(',')}}`;

let t: TestApp | null = null;
afterEach(() => {
  t?.close();
  t = null;
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
});

async function send(app: TestApp, method: string, path: string, text: string): Promise<{ status: number; body: Json }> {
  const r = await app.fetch(path, { method, headers: { 'content-type': 'application/json' }, body: text });
  const body = (await r.json()) as Json;
  expect({ path, status: r.status < 500 ? 'not 5xx' : r.status, body: r.status < 500 ? null : body }).toEqual({ path, status: 'not 5xx', body: null });
  return { status: r.status, body };
}

test('names every object has round-trip through every map a route keeps, and are counted right', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 }), async (names) => {
      t?.close();
      t = await makeTestApp();
      const app = t;

      // Memory: categories counted, metadata kept with every key.
      for (const [i, name] of names.entries()) {
        const r = await send(app, 'POST', '/api/memory', `{"content":"own keys ${i}","category":${JSON.stringify(name)},"metadata":${objectText(names, (n) => n.length)}}`);
        expect(r.status).toBe(201);
        expect(Object.keys(r.body.memory.metadata)).toEqual(names);
      }
      const stats = (await send(app, 'GET', '/api/memory/stats', '')).body;
      expect(Object.entries(stats.categories).sort()).toEqual(names.map((n): [string, unknown] => [n, 1]).sort());
      const listed = (await send(app, 'GET', '/api/memory?limit=100', '')).body.memories as Json[];
      expect(listed.map((m) => Object.keys(m.metadata))).toEqual(names.map(() => names));

      // Tasks: agents counted whatever their name.
      for (const name of names) {
        const task = (await send(app, 'POST', '/api/tasks', `{"title":"t","assigned_agent":${JSON.stringify(name)}}`)).body;
        expect((await send(app, 'POST', `/api/tasks/${task.task_id}/claim`, `{"agent_name":${JSON.stringify(name)}}`)).status).toBe(200);
      }
      const byAgent = (await send(app, 'GET', '/api/tasks/stats', '')).body.in_progress_by_agent;
      expect(Object.entries(byAgent).sort()).toEqual(names.map((n): [string, unknown] => [n, 1]).sort());

      // Escrow: totals per token symbol.
      const tokens = names.filter((n) => ESCROW_TOKEN.test(n));
      for (const token of tokens) expect((await send(app, 'POST', '/api/wallet/escrow', `{"task_id":"t1","amount":"1","token":${JSON.stringify(token)}}`)).status).toBe(201);
      expect(Object.keys((await send(app, 'GET', '/api/wallet', '')).body.escrow.by_token).sort()).toEqual([...tokens].sort());

      // Config: a map under each name merges and is read back; reserved names are a 422 that writes nothing.
      const configPath = join(app.home, 'config.yaml');
      writeFileSync(configPath, 'model: x\n');
      for (const name of names) {
        const r = await send(app, 'PATCH', '/api/config', objectText([name], () => ({ a: 1 })));
        expect([name, r.status]).toEqual([name, RESERVED_CONFIG_KEYS.has(name) ? 422 : 200]);
      }
      const allowed = names.filter((n) => !RESERVED_CONFIG_KEYS.has(n));
      const config = (await send(app, 'GET', '/api/config', '')).body.config;
      expect(config).toEqual(JSON.parse(objectText(['model', ...allowed], (n) => (n === 'model' ? 'x' : { a: 1 }))));
      if (!allowed.length) expect(readFileSync(configPath, 'utf8')).toBe('model: x\n');

      // Skills: frontmatter keys and the category (folder) kept.
      const dir = join(app.home, 'skills', names[0] as string, 'own-keys');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'SKILL.md'), `---\nname: own-keys\n${names.map((n) => `${JSON.stringify(n)}: 1`).join('\n')}\n---\nBody.\n`);
      const skills = (await send(app, 'GET', '/api/skills', '')).body;
      expect(skills.categories).toEqual([names[0]]);
      const detail = (await send(app, 'GET', `/api/skills/${encodeURIComponent(skills.skills[0].id)}`, '')).body;
      expect(Object.keys(detail.frontmatter).sort()).toEqual([...new Set(['name', ...names])].sort());

      expect(({} as Json).a).toBeUndefined();
    }),
    { numRuns: 12 },
  );
});

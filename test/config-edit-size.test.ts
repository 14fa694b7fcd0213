/**
 * The size of one config edit. Every path of an edit used to re-parse the file written so far, so
 * 400 keys in one POST took 4 s of the event loop and edits were limited to 64 paths, which refused a
 * settings UI saving whole sections. Paths are now applied on one parse per round (yaml-batch.ts);
 * what stays bounded is the body: a 40,000-key value left a config.yaml every later read took a
 * second to parse, so more than 2,048 keys and list items are refused before any work.
 */
import { afterEach, expect, test } from 'bun:test';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_EDIT_NODES } from '../src/modules/config/model';
import { makeTestApp, type TestApp } from './helpers/app';

let t: TestApp | undefined;
afterEach(() => t?.close());

const SRC = 'model: gpt\nterminal:\n  timeout: 30\n';

async function appWithConfig(): Promise<TestApp & { read(): string }> {
  const app = await makeTestApp();
  t = app;
  mkdirSync(app.home, { recursive: true });
  const path = join(app.home, 'config.yaml');
  writeFileSync(path, SRC);
  return Object.assign(app, { read: () => readFileSync(path, 'utf8') });
}

const keys = (n: number, prefix: string) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]));

test('POST updates of many dot paths is written in one edit, each path as one by one it would be', async () => {
  const app = await appWithConfig();
  // More than the 64 paths an edit was once limited to (each re-parsed the file then).
  const r = await app.json<{ keys: string[] }>('POST', '/api/config', { updates: { ...keys(150, 'terminal.k'), 'terminal.timeout': 60, model: 'other' } });
  expect(r.status).toBe(200);
  expect(r.body.keys).toHaveLength(152);
  const added = Array.from({ length: 150 }, (_, i) => `  k${i}: ${i}\n`).join('');
  expect(app.read()).toBe(`model: other\nterminal:\n  timeout: 60\n${added}`);
});

test('a PATCH that merges many keys into existing maps is written (a settings UI saving whole sections)', async () => {
  const app = await appWithConfig();
  const r = await app.json<{ keys: string[] }>('PATCH', '/api/config', { terminal: { ...keys(200, 'x'), timeout: 90 } });
  expect(r.status).toBe(200);
  expect(r.body.keys).toHaveLength(201);
  const added = Array.from({ length: 200 }, (_, i) => `  x${i}: ${i}\n`).join('');
  expect(app.read()).toBe(`model: gpt\nterminal:\n  timeout: 90\n${added}`);
});

test(`a body with more than ${MAX_EDIT_NODES} keys and items is a 422 before anything is parsed`, async () => {
  const app = await appWithConfig();
  const wide = keys(MAX_EDIT_NODES, 'k');
  for (const [method, body] of [
    ['PATCH', { custom: wide }],
    ['POST', { key: 'custom', value: Object.values(wide) }],
  ] as const) {
    const r = await app.json(method, '/api/config', body);
    expect({ method, status: r.status }).toEqual({ method, status: 422 });
    expect(r.body.detail).toContain(`more than ${MAX_EDIT_NODES} keys and list items`);
  }
  expect(app.read()).toBe(SRC);
  // Just under the limit (the body's own key counts too) is written.
  expect((await app.json('PATCH', '/api/config', { custom: keys(MAX_EDIT_NODES - 1, 'k') })).status).toBe(200);
});

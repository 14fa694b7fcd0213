/**
 * The size of one config edit. Every operation of an edit re-parses the file it has written so far
 * (yaml-edit.ts), so an edit's work grows with operations × file size: 400 keys in one POST took 4 s
 * of the event loop, a 1 MiB body of 20,000 keys did not finish in minutes, and a 40,000-key value
 * left a config.yaml every later read took a second to parse. Such edits are refused before any work.
 */
import { afterEach, expect, test } from 'bun:test';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_EDIT_OPS, MAX_EDIT_NODES } from '../src/modules/config/model';
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

test(`POST updates with more than ${MAX_EDIT_OPS} keys is a 422 and writes nothing; ${MAX_EDIT_OPS} are written`, async () => {
  const app = await appWithConfig();
  const over = Object.fromEntries(Object.entries(keys(MAX_EDIT_OPS + 1, 's')).map(([k, v]) => [`${k}.k`, v]));
  const r = await app.json('POST', '/api/config', { updates: over });
  expect(r.status).toBe(422);
  expect(r.body.detail).toContain(`at most ${MAX_EDIT_OPS}`);
  expect(app.read()).toBe(SRC);
  const ok = await app.json<{ keys: string[] }>('POST', '/api/config', { updates: keys(MAX_EDIT_OPS, 'k') });
  expect(ok.status).toBe(200);
  expect(ok.body.keys).toHaveLength(MAX_EDIT_OPS);
});

test('a PATCH that merges into more keys than one edit may set is a 422 and writes nothing', async () => {
  const app = await appWithConfig();
  // Merged into the existing map, each key is its own operation.
  const r = await app.json('PATCH', '/api/config', { terminal: keys(MAX_EDIT_OPS + 1, 'x') });
  expect(r.status).toBe(422);
  expect(app.read()).toBe(SRC);
  // The same keys under a new key are one operation: the map is written whole.
  expect((await app.json('PATCH', '/api/config', { custom: keys(MAX_EDIT_OPS + 1, 'x') })).status).toBe(200);
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

/**
 * Ids a client chooses (session ids, escrow task ids, metered-call caller ids) must start with a letter
 * or digit. The 422 has to say so: `-abc` is made of the characters the message listed, so a client
 * reading "expected letters, digits, _ . : -" could not tell what was wrong with it.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { jsonOf, makeTestApp, post, type TestApp } from './helpers/app';

let t: TestApp;
beforeAll(async () => {
  t = await makeTestApp();
});
afterAll(() => t.close());

const cases: [path: string, body: Record<string, unknown>, field: string][] = [
  ['/api/sessions', { id: '-abc' }, 'id'],
  ['/api/wallet/escrow', { task_id: '.task', amount: '1' }, 'task_id'],
  ['/api/wallet/tempo/call', { caller_id: '_me', prompt: 'hi' }, 'caller_id'],
];

for (const [path, body, field] of cases) {
  test(`${path}: an id starting with punctuation is a 422 whose message names the first-character rule`, async () => {
    const res = await post(t, path, body);
    expect(res.status).toBe(422);
    const err = await jsonOf(res);
    expect(err.errors[0].path).toBe(field);
    expect(err.errors[0].message).toContain('starting with a letter or digit');
  });
}

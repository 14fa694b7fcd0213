/**
 * A secret that a YAML alias repeats as a map KEY (`notes: {*k : hi}` with `api_key: &k sk-…`), or an
 * anchored key aliased under a secret name (`&k sk-…: x`, then `api_key: *k`), was shown in clear as a
 * key name by GET /api/config (SPEC §10: no secret value in any response). Such keys are masked
 * (`***` + the last 4 characters), a distinct name each in one map, and a write through one is a 400.
 */
import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useConfigHome } from './helpers/config-home';

const home = useConfigHome();
const { writeConfig, shown } = home;

const config = async () => (await home.t.json<{ config: Record<string, unknown> }>('GET', '/api/config')).body.config;

test('a secret an alias repeats as a map key is masked in every response', async () => {
  const text = 'model: {default: gpt-4o}\nprovider:\n  api_key: &k sk-live-1234567890abcd\nnotes: {*k : hi}\n';
  expect(await shown(text)).not.toContain('sk-live-1234567890');
  expect((await config()).notes).toEqual({ '***abcd': 'hi' });
  // A short secret as well (masked as `***`).
  expect(await shown('password: &p hunter2\nnotes:\n  *p : hi\n')).not.toContain('hunter2');
});

test('an anchored key aliased under a secret name is masked as a key too', async () => {
  const text = 'notes:\n  &k sk-live-1234567890wxyz : hello\nprovider:\n  api_key: *k\n';
  expect(await shown(text)).not.toContain('sk-live-1234567890');
  expect(await config()).toEqual({ notes: { '***wxyz': 'hello' }, provider: { api_key: '***wxyz' } });
});

test('two masked keys of one map keep distinct names and both values; a plain alias key is shown', async () => {
  const text = 'a: {token: &x tok-aaaa-1234, password: &y pw-bbbb-1234, pin_pass: &z hunter2, pwd: &w sesame}\nname: &n notes\nm:\n  *x : 1\n  *y : 2\n  *z : 3\n  *w : 4\n  "***1234": 5\nx:\n  *n : plain\n';
  const body = await shown(text);
  for (const secret of ['tok-aaaa', 'pw-bbbb', 'hunter2', 'sesame']) expect(body).not.toContain(secret);
  const c = await config();
  expect(c.m).toEqual({ '***1234 #2': 1, '***1234 #3': 2, '***': 3, '*** #2': 4, '***1234': 5 });
  // `notes` is a plain value (its name is not secret): shown as the key it is.
  expect(c.x).toEqual({ notes: 'plain' });
});

test('a write through a masked key, or sending a map with one back, is 400 redacted_value and writes nothing', async () => {
  const text = 'provider:\n  api_key: &k sk-live-1234567890abcd\nnotes:\n  *k : hi\n  other: 1\n';
  writeConfig(text);
  const read = await config();
  for (const [method, body] of [
    ['POST', { key: 'notes.***abcd', value: 'x' }],
    ['POST', { updates: { 'notes.***abcd.deep': 1 } }],
    ['POST', { key: 'notes', value: read.notes }],
    ['PATCH', { notes: read.notes }],
    ['PATCH', { notes: { '***abcd': 'changed' } }],
    ['PATCH', { fresh: { '*** #2': 1 } }],
  ] as const) {
    const res = await home.t.json(method, '/api/config', body);
    expect({ body, status: res.status, code: res.body.code }).toEqual({ body, status: 400, code: 'redacted_value' });
  }
  expect(readFileSync(join(home.t.home, 'config.yaml'), 'utf8')).toBe(text);
  // The rest of the map is still written as usual.
  expect((await home.t.json('PATCH', '/api/config', { notes: { other: 2 } })).status).toBe(200);
});

test('an anchored key repeated into an env map is masked at its other aliases too (shrunk from the property test)', async () => {
  // The key's anchor was never followed: only anchored values were, so `model: *a` showed it in clear.
  const text = 'providers:\n  openrouter:\n    &a sk-or-v1-5f2c9a7e1d3b: *a\nmcp_servers:\n  github:\n    command: npx\n    env: *a\nmodel: *a\n';
  expect(await shown(text)).not.toContain('5f2c9a7e');
});

test('a secret an alias repeats only as a key is masked where it is written out again, as an aliased value is (shrunk from the property test)', async () => {
  // The value rule (an anchored secret is masked wherever the tree shows it) took only value aliases as repeats.
  const text = 'providers:\n  openrouter:\n    api_key: &a "anthropic"\n    *a : "gpt-4o"\nmodel: "anthropic"\n';
  expect(await shown(text)).not.toContain('anthropic');
});

test('a file the yaml package refuses (a `<<` merge of an anchored key) stays a 409, not a 500: the tree is built before the anchored values', async () => {
  writeConfig('name: &a "gpt-4o"\nproviders:\n  openrouter: &a\n    &a sk-or-v1-5f2c9a7e1d3b: *a\n    <<: [*a, *a]\n');
  for (const path of ['/api/config', '/api/config/model']) expect((await home.t.fetch(path)).status).toBe(409);
});

test('an anchored key whose name another anchor has too is followed to its own aliases (shrunk from the property test)', async () => {
  // The other definition's `<<` merge at the root was taken for where the key is defined, and skipped.
  const text = 'mcp_servers:\n  github:\n    command: "npx"\n    env: {}\n    headers: &m {}\n<<: *m\nmcp_servers:\n  github:\n    command: "npx"\n    env: {&m sk-or-v1-5f2c9a7e1d3b: *m}\nmodel: *m\n';
  expect(await shown(text)).not.toContain('5f2c9a7e');
});

test('a key that is a list or map (written so, or an alias of one) is refused as PyYAML refuses it: its text showed a secret, through a `<<` merge too', async () => {
  // The yaml package spells such a key as text: a list aliased into a key and merged was the secret itself.
  for (const text of [
    'notes:\n  ? {api_key: sk-live-1234567890abcd}\n  : x\n',
    'api_key: &k sk-live-1234567890abcd\nn: &m [*k]\nbase: &b\n  *m : x\np:\n  <<: *b\n',
    'api_key: &k sk-live-1234567890abcd\nbase: &b\n  ? [*k]\n  : x\np:\n  <<: *b\n',
    'n: &m {k: v}\np:\n  *m : 1\n',
  ]) {
    const body = await shown(text);
    expect(body).not.toContain('1234567890');
    const res = await home.t.json('GET', '/api/config');
    expect({ text, status: res.status, code: res.body.code }).toEqual({ text, status: 409, code: 'config_invalid' });
  }
});

test('a key the file has that merely looks like a mask (`"***abcd"` written by hand) is written as any other; the masked one beside it is still refused', async () => {
  // Every key spelled `***…` was refused: a GET sent back unchanged as a PATCH was a 400 on a file with no secret.
  writeConfig('notes:\n  "***abcd": 1\n  "*** #2": 2\n');
  const read = await config();
  expect((await home.t.json('PATCH', '/api/config', read)).status).toBe(200);
  expect((await home.t.json('POST', '/api/config', { key: 'notes.***abcd', value: 3 })).status).toBe(200);
  expect((await home.t.json('POST', '/api/config', { key: 'notes', value: { '***abcd': 4, '*** #2': 2 } })).status).toBe(200);
  expect(await config()).toEqual({ notes: { '***abcd': 4, '*** #2': 2 } });
  // A secret an alias makes a key masks to a name the file's map does not have (` #2` here): that one is refused.
  const text = 'provider:\n  api_key: &k sk-live-1234567890abcd\nnotes:\n  *k : hi\n  "***abcd": 1\n';
  writeConfig(text);
  expect((await config()).notes).toEqual({ '***abcd #2': 'hi', '***abcd': 1 });
  for (const body of [{ key: 'notes.***abcd #2', value: 'x' }, { key: 'notes', value: { '***abcd #2': 'hi', '***abcd': 1 } }]) {
    expect((await home.t.json('POST', '/api/config', body)).body.code).toBe('redacted_value');
  }
  expect(readFileSync(join(home.t.home, 'config.yaml'), 'utf8')).toBe(text);
  expect((await home.t.json('POST', '/api/config', { key: 'notes.***abcd', value: 2 })).status).toBe(200);
});

test('a masked key is never named like a key the file has in that map, a secret one included: a write to it is refused, not made to that other key', async () => {
  // `"***abcd"` (itself a secret key here) was masked to `***`, and the alias key `*k` took its name `***abcd`.
  const text = 'provider:\n  api_key: &k sk-live-1234567890abcd\nnotes:\n  *k : hi\n  &z "***abcd" : there\npw:\n  password: *z\n';
  writeConfig(text);
  expect((await config()).notes).toEqual({ '***abcd #2': 'hi', '***': 'there' });
  expect((await home.t.json('POST', '/api/config', { key: 'notes.***abcd #2', value: 'x' })).body.code).toBe('redacted_value');
  expect(readFileSync(join(home.t.home, 'config.yaml'), 'utf8')).toBe(text);
});

test('an anchored key that is a date or binary, aliased under a secret name, is masked as a key too, and never reaches stderr', async () => {
  // Only string and number leaves were matched to keys: a date key showed as its Date text, a binary
  // one decoded (`sk-live-…`), though the value under the secret name was masked; the yaml package's
  // warning about such keys printed them on stderr as well.
  const warnings: string[] = [];
  const emit = process.emitWarning;
  process.emitWarning = ((w: string | Error) => void warnings.push(String(w))) as typeof process.emitWarning;
  try {
    const binary = await shown('notes:\n  &b !!binary c2stbGl2ZS1hYmNkZWZnaDEyMzQ= : hi\npassword: *b\n');
    expect(binary).not.toContain('sk-live-abcd');
    expect((await config()).notes).toEqual({ '***': 'hi' });
    const date = await shown('notes:\n  &d 2031-05-17T10:11:12Z : hi\napi_key: *d\n');
    expect(date).not.toContain('2031');
    expect(date).not.toContain('May 17');
    expect((await config()).notes).toEqual({ '***': 'hi' });
    // Not a secret anywhere: the date key is shown as the tree has it.
    await shown('notes:\n  &d 2031-05-17 : hi\nwhen: *d\n');
    expect(Object.keys((await config()).notes as object)[0]).toContain('2031');
  } finally {
    process.emitWarning = emit;
  }
  expect(warnings.filter((w) => /sk-live|2031/.test(w))).toEqual([]);
});

test('a masked key sent under a key the file holds as a date, a list or a number is refused; under a map that has it, written', async () => {
  // isMaskedKeyAt asks whether the file's map at that place has the key: a YAML timestamp (a Date in the
  // tree), a list or a scalar has none, so `***abcd` there is a masked key sent back, never a key to add.
  const text = 'when: 2001-12-14\nlist: [a]\nn: 5\nnotes:\n  "***abcd": 1\n';
  writeConfig(text);
  for (const key of ['when', 'list', 'n']) {
    const res = await home.t.json('POST', '/api/config', { key, value: { '***abcd': 1 } });
    expect([key, res.status, res.body.code]).toEqual([key, 400, 'redacted_value']);
  }
  expect(readFileSync(join(home.t.home, 'config.yaml'), 'utf8')).toBe(text);
  expect((await home.t.json('POST', '/api/config', { key: 'notes', value: { '***abcd': 2 } })).status).toBe(200);
  expect((await config()).notes).toEqual({ '***abcd': 2 });
});

/**
 * A write through a key that is a YAML alias (`*n : …`, the key's text written elsewhere with `&n`).
 * The editor finds keys by their own text only, so it added a second key of that name beside the alias
 * key: a write into the alias key's map was a 500 (the edit check saw its other keys dropped), and a
 * date's alias key (spelled `*d` in the tree) got a string key `"*d"` beside it, which hid the date key's
 * value from GET /api/config while Hermes still read it. Such a key is a 409 naming it, as an alias value is.
 */
import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useConfigHome } from './helpers/config-home';

const home = useConfigHome();

test('a write through a key that is an alias is 409 config_path_conflict and writes nothing', async () => {
  for (const [text, body] of [
    ['name: &n notes\nx:\n  *n :\n    a: 1\n', { key: 'x.notes.b', value: 2 }],
    ['name: &n notes\nx: {*n : {a: 1}}\n', { key: 'x.notes.b', value: 2 }],
    ['name: &n notes\nx:\n  *n : 1\n', { key: 'x.notes', value: 2 }],
    ['password: &d 2024-01-01\nnotes:\n  *d : hi\n', { key: 'notes.*d', value: 'x' }],
  ] as const) {
    home.writeConfig(text);
    for (const [method, sent] of [['POST', body], ['PATCH', { [body.key.split('.')[0] as string]: { [body.key.split('.')[1] as string]: body.value } }]] as const) {
      const res = await home.t.json(method, '/api/config', sent);
      expect({ text, method, status: res.status, code: res.body.code }).toEqual({ text, method, status: 409, code: 'config_path_conflict' });
      expect(String(res.body.detail)).toContain('alias');
      expect(readFileSync(join(home.t.home, 'config.yaml'), 'utf8')).toBe(text);
    }
  }
});

test('the other keys of a map with an alias key are written as usual', async () => {
  home.writeConfig('name: &n notes\nx:\n  *n : 1\n  other: 1\n');
  expect((await home.t.json('POST', '/api/config', { key: 'x.other', value: 2 })).status).toBe(200);
  expect((await home.t.json('POST', '/api/config', { key: 'x.fresh', value: 3 })).status).toBe(200);
  expect((await home.t.json<{ config: unknown }>('GET', '/api/config')).body.config).toEqual({ name: 'notes', x: { notes: 1, other: 2, fresh: 3 } });
});

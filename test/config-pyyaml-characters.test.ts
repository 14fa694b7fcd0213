/**
 * Characters PyYAML's reader refuses anywhere in config.yaml ("unacceptable character"), and bytes
 * that are not UTF-8: Hermes cannot load such a file. The sidecar showed it as if it were fine, an
 * edit rewrote the bytes it could not decode as U+FFFD (a line it did not touch), and a value holding
 * such a character was written raw, leaving a file Hermes refused. Checked against PyYAML 6.0.3.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';

let t: TestApp | undefined;
afterEach(() => t?.close());

async function appWith(config: Buffer | string): Promise<TestApp & { bytes(): Buffer }> {
  const app = await makeTestApp();
  t = app;
  mkdirSync(app.home, { recursive: true });
  const path = join(app.home, 'config.yaml');
  writeFileSync(path, config);
  return Object.assign(app, { bytes: () => readFileSync(path) });
}

/** PyYAML's reader: everything but these is "unacceptable" (yaml/reader.py, NON_PRINTABLE). */
const PYYAML_REFUSES = /[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

describe('a config.yaml Hermes cannot load is 409 config_invalid, by position, and left as it is', () => {
  const cases: [string, Buffer, string][] = [
    ['a Latin-1 byte in a comment', Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from('\nmodel:\n  default: gpt-4o\n')]), 'bytes that are not UTF-8 text (line 1, column 6)'],
    ['a UTF-16 file', Buffer.from('\ufeffmodel: x\n', 'utf16le'), 'bytes that are not UTF-8 text (line 1, column 1)'],
    ['a NUL byte', Buffer.from('model: x\n\u0000extra: 1\n'), 'a character YAML does not allow (U+0000) (line 2, column 1)'],
    ['a DEL in a quoted value', Buffer.from('model: x\nname: "a\u007fb"\n'), 'a character YAML does not allow (U+007F) (line 2, column 9)'],
    ['a C1 control in a comment', Buffer.from('# x\u0090\nmodel: x\n'), 'a character YAML does not allow (U+0090) (line 1, column 4)'],
  ];
  for (const [name, bytes, detail] of cases) {
    test(name, async () => {
      const app = await appWith(bytes);
      for (const [method, path, body] of [['GET', '/api/config'], ['GET', '/api/config/model'], ['POST', '/api/config', { key: 'agent.max_turns', value: 9 }], ['POST', '/api/config/model', { model: 'y' }]] as const) {
        const r = await app.json<{ code: string; detail: string }>(method, path, body);
        expect([method, path, r.status, r.body.code]).toEqual([method, path, 409, 'config_invalid']);
        expect(r.body.detail).toContain(detail);
      }
      expect(app.bytes().equals(bytes)).toBe(true);
    });
  }

  test('a U+FFFD written in the file, a BOM and the characters PyYAML takes are read as before', async () => {
    const app = await appWith('\ufeff# ok \ufffd \u00a0 \u{1F600}\nmodel: "x\ty"\n');
    const r = await app.json<{ model: string }>('GET', '/api/config');
    expect([r.status, r.body.model]).toEqual([200, 'x\ty']);
  });
});

describe('values holding characters PyYAML refuses raw are written escaped', () => {
  test('DEL, C1 controls, U+FFFE and U+FFFF come back as sent, and the file is one Hermes can load', async () => {
    const app = await appWith('# keep\nagent: {}\n');
    const values = ['a\u007fb', 'c1 \u0080\u0090\u009f', 'x\ufffe', 'y\uffff', 'nel\u0085 ls\u2028'];
    for (const [i, value] of values.entries()) {
      const post = await app.json('POST', '/api/config', { key: `agent.v${i}`, value });
      expect([value, post.status]).toEqual([value, 200]);
    }
    const patch = await app.json('PATCH', '/api/config', { notes: { 'k\u0090': ['z\u007f'] } });
    expect(patch.status).toBe(200);
    const text = app.bytes().toString('utf8');
    expect(PYYAML_REFUSES.exec(text)).toBeNull();
    const config = (await app.json<{ config: Record<string, Record<string, unknown>> }>('GET', '/api/config')).body.config;
    expect(values.map((_, i) => config.agent?.[`v${i}`])).toEqual(values);
    expect(config.notes).toEqual({ 'k\u0090': ['z\u007f'] });
  });
});

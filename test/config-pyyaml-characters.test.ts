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
    // 0xEF starts U+FFFD's own bytes (EF BF BD): a cut-off sequence of it was placed one character on.
    ['half of a 3-byte sequence that starts as U+FFFD does', Buffer.from([0x23, 0x20, 0x63, 0xef, 0xbf, 0x0a, 0x6b, 0x3a, 0x20, 0x76, 0x0a]), 'bytes that are not UTF-8 text (line 1, column 4)'],
    ['a lone 0xEF at the end of the file', Buffer.from([0x6b, 0x3a, 0x20, 0x76, 0x0a, 0xef]), 'bytes that are not UTF-8 text (line 2, column 1)'],
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

describe('half an emoji (a lone surrogate) in a value or key', () => {
  test('is written as its escape, which PyYAML (checked, 6.0.3) and GET read back as sent', async () => {
    const app = await appWith('agent: {}\nblock:\n  a: 1\n');
    expect((await app.json('POST', '/api/config', { updates: { 'agent.v': 'a\ud83d', 'block.k\udc00': ['\ud83d'] } })).status).toBe(200);
    expect((await app.json('POST', '/api/config/model', { model: 'gpt\ud83d' })).status).toBe(200);
    expect(app.bytes().toString('utf8')).toBe('agent: {v: "a\\ud83d"}\nblock:\n  a: 1\n  "k\\udc00":\n    - "\\ud83d"\nmodel:\n  default: "gpt\\ud83d"\n');
    const config = (await app.json<{ config: Record<string, unknown> }>('GET', '/api/config')).body.config;
    expect(config).toEqual({ agent: { v: 'a\ud83d' }, block: { a: 1, 'k\udc00': ['\ud83d'] }, model: { default: 'gpt\ud83d' } });
  });
});

describe('a string written into a flow map is one PyYAML reads back', () => {
  // PyYAML (YAML 1.1) ends a plain scalar at `?` inside `{…}`/`[…]` and starts none with `:` or `?`
  // there; the yaml package wrote both plain, and Hermes could not load the file (ParserError).
  const values = ['a?0', 'what?', '?x', ':x', '::"', '0?'];
  test('POST and PATCH into `{…}`: quoted there (a block list needs no quotes), read back as sent', async () => {
    const app = await appWith('agent: {}\nlist: [a]\n');
    for (const [i, value] of values.entries()) {
      expect((await app.json('POST', '/api/config', { key: `agent.v${i}`, value })).status).toBe(200);
    }
    expect((await app.json('POST', '/api/config', { key: 'list', value: ['b?', ':c'] })).status).toBe(200);
    expect((await app.json('PATCH', '/api/config', { agent: { 'k?': { 'n?': ':m' } } })).status).toBe(200);
    // Checked with PyYAML 6.0.3: it loads this text to exactly the values sent.
    expect(app.bytes().toString('utf8')).toBe('agent: {v0: "a?0", v1: "what?", v2: "?x", v3: ":x", v4: "::\\"", v5: "0?", "k?": {"n?": ":m"}}\nlist:\n  - b?\n  - :c\n');
    const config = (await app.json<{ config: Record<string, unknown> }>('GET', '/api/config')).body.config;
    expect(values.map((_, i) => (config.agent as Record<string, unknown>)[`v${i}`])).toEqual(values);
    expect([(config.agent as Record<string, unknown>)['k?'], config.list]).toEqual([{ 'n?': ':m' }, ['b?', ':c']]);
  });
});

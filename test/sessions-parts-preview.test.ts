/**
 * The preview of a first message stored as parts ("\u0000json:" + JSON) reads only the text it shows
 * instead of parsing the whole document (a 10 MB message of screenshots cost 35–110 ms per session
 * list). It must say exactly what the whole parse said, for valid documents and for every one that
 * parse refuses (shown as its own text), so the code before the change is kept here as the oracle.
 */
import { afterEach, expect, spyOn, test } from 'bun:test';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, nestedDeeperThan } from '../src/lib/body';
import { cutText } from '../src/lib/text';
import { previewOf } from '../src/modules/sessions/content';
import { makeTestApp, type TestApp } from './helpers/app';
import { createStateDb, multimodal, type StateDbFixture } from './fixtures/state-db';

// --- the oracle: previewOf as it was, parsing the whole document --------------------------------
const PREFIX = '\u0000json:';
function oracleDecode(raw: unknown): unknown {
  if (typeof raw !== 'string' || !raw.startsWith(PREFIX)) return raw ?? null;
  const body = raw.slice(PREFIX.length);
  if (nestedDeeperThan(body, MAX_JSON_DEPTH)) return body;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}
function oracleText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (typeof p === 'string' ? p : p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
      .filter(Boolean)
      .join('\n');
  }
  if (content && typeof content === 'object' && typeof (content as { text?: unknown }).text === 'string') return (content as { text: string }).text;
  return '';
}
function oraclePreview(raw: unknown, max = 60): string | null {
  const whole = oracleText(oracleDecode(raw)).replace(/\s+/g, ' ').trim();
  return whole ? cutText(whole, max) : null;
}

const same = (body: string, max = 60) => expect(previewOf(PREFIX + body, max)).toBe(oraclePreview(PREFIX + body, max));

// --- generated documents: JSON written by hand, so escapes, whitespace and defects vary -----------
const STRING_PIECES = [
  'a', 'Z', ' ', '   ', 'x'.repeat(40), ' '.repeat(90), 'é', 'e\u0301', '👩‍💻', '🇫🇷', '\ud83d', '\ude00', '会', '\u00a0', '\u2028', 'text', 'data:image/png;base64,iVBORw0KGgo',
  '\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t', '\\u0041', '\\u00e9', '\\uD83D\\uDE00', '\\ud83d', '\\ude00', '\\u0020', '\\u000a', '\\u2028', '\\n'.repeat(60), '\\u0020'.repeat(40),
];
const BAD_STRING_PIECES = ['\n', '\t', '\u0001', '\u0000', '\\x', '\\u12', '\\uZZZZ', '\\', '\\U0041', '\\\''];
const stringBody = fc.array(fc.oneof({ weight: 40, arbitrary: fc.constantFrom(...STRING_PIECES) }, { weight: 1, arbitrary: fc.constantFrom(...BAD_STRING_PIECES) }), { maxLength: 30 }).map((p) => p.join(''));
const str = stringBody.map((s) => `"${s}"`);
const key = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('"text"', '"type"', '"image_url"', '"url"', '"t\\u0065xt"', '"\\u0074\\u0065\\u0078\\u0074"', '"text "', '"Text"', '"tex"', '"__proto__"') }, { weight: 1, arbitrary: str });
const ws = fc.oneof({ weight: 20, arbitrary: fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n  ') }, { weight: 1, arbitrary: fc.constantFrom('\u00a0', '\u000b', '\u000c', '\ufeff', '\u2028') });
const GOOD_NUMBERS = ['0', '-0', '1', '42', '-7', '3.25', '1e5', '1E+2', '2e-3', '-0.0e0', '12345678901234567890123'];
const BAD_NUMBERS = ['01', '1.', '.5', '-', '+1', '1e', '1e+', '0x10', 'NaN', 'Infinity', '--1'];
const scalar = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...GOOD_NUMBERS, 'true', 'false', 'null') },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_NUMBERS, 'tru', 'nul', 'falsey', 'True', 'undefined') },
);
const list = <T>(items: fc.Arbitrary<T>, open: string, close: string, show: (x: T) => string) =>
  fc.tuple(fc.array(fc.tuple(ws, items, ws), { maxLength: 6 }), ws, fc.constantFrom(',', ',', ',', ',', ',', ',', ', ,', ';')).map(([xs, w, comma]) =>
    `${open}${xs.length ? xs.map(([a, x, b]) => `${a}${show(x)}${b}`).join(comma) : w}${close}`);
const { value } = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    str,
    scalar,
    list(tie('value'), '[', ']', (x) => x),
    list(fc.tuple(key, ws, fc.constantFrom(':', ':', ':', ':', '=', ''), ws, tie('value')), '{', '}', ([k, a, colon, b, v]) => `${k}${a}${colon}${b}${v}`),
  ),
}));
/** The shape Hermes writes: a list of parts, text and image ones, some with duplicate or non-string `text`. */
const part = fc.oneof(
  fc.tuple(str, fc.constantFrom('', ',"text":7', ',"text":null', ',"text":"later"', ',"text":["x"]')).map(([s, dup]) => `{"type":"text","text":${s}${dup}}`),
  stringBody.map((s) => `{"type":"image_url","image_url":{"url":"data:image/png;base64,${'QUJD'.repeat(50)}${s}"}}`),
  fc.tuple(key, value).map(([k, v]) => `{${k}:${v}}`),
  str,
  value,
);
const parts = fc.tuple(ws, fc.array(fc.tuple(part, ws), { maxLength: 8 }), ws).map(([a, ps, b]) => `${a}[${ps.map(([p, w]) => `${p}${w}`).join(',')}]${b}`);
/** Defects anywhere: cut short, a character dropped, added or changed. */
const damaged = (doc: fc.Arbitrary<string>) =>
  fc.tuple(doc, fc.nat(), fc.constantFrom('trim', 'drop', 'add', 'swap'), fc.constantFrom('x', '"', '\\', ']', '}', ',', '[', '{', ' ', '\u0000', ':')).map(([d, at, how, c]) => {
    const i = d.length ? at % d.length : 0;
    if (how === 'trim') return d.slice(0, i);
    if (how === 'drop') return d.slice(0, i) + d.slice(i + 1);
    if (how === 'add') return d.slice(0, i) + c + d.slice(i);
    return d.slice(0, i) + c + d.slice(i + 1);
  });
const document = fc.oneof({ weight: 4, arbitrary: parts }, { weight: 2, arbitrary: value }, { weight: 2, arbitrary: damaged(parts) }, { weight: 1, arbitrary: damaged(value) });

test('generated documents, valid and damaged: the preview equals the whole parse', () => {
  let valid = 0;
  fc.assert(fc.property(document, fc.integer({ min: 1, max: 80 }), (body, max) => {
    try {
      JSON.parse(body);
      valid++;
    } catch {}
    same(body, max);
  }), { numRuns: 20_000 });
  // The generator is worth something only if it makes both kinds.
  expect(valid).toBeGreaterThan(5_000);
  expect(valid).toBeLessThan(17_000);
});

test('more generators: depth near the limit in and out of strings, long keys, escaped quotes and backslashes in keys, number edge cases', () => {
  // Objects and lists mixed, 100–140 levels, around a core that may hold brackets inside a string.
  const nested = fc.tuple(fc.integer({ min: 100, max: 140 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }), fc.constantFrom('1', '"[[[[{{{{"', '"\\"]]]"', '{"text":"deep"}', '[]'))
    .map(([n, lists, core]) => {
      const at = (i: number) => lists[i % lists.length];
      return `${Array.from({ length: n }, (_, i) => (at(i) ? '[' : '{"k":')).join('')}${core}${Array.from({ length: n }, (_, i) => (at(n - 1 - i) ? ']' : '}')).join('')}`;
    });
  const bracketString = fc.tuple(fc.integer({ min: 0, max: 300 }), fc.constantFrom('[', '{', ']', '}', '\\"[', '\\\\')).map(([n, c]) => `"${c.repeat(n)}"`);
  const escapedKey = fc.array(fc.constantFrom('t', 'e', 'x', 'text', '\\"', '\\\\', '\\u0022', '\\u005c', '\\u005C', '\\u0074', '\\u0065\\u0078', '\\/', ':', '}'), { maxLength: 12 }).map((p) => `"${p.join('')}"`);
  const longKey = fc.integer({ min: 20, max: 5000 }).map((n) => `"${'k'.repeat(n)}"`);
  const key = fc.oneof(escapedKey, longKey, fc.constantFrom('"text"', '"\\u0074\\u0065\\u0078\\u0074"', '"\\u0074\\u0065\\u0078\\u0074 "', '"te\\u0078t"', '"\\u0074ext\\u0000"'));
  const number = fc.oneof(
    fc.constantFrom('-0', '0e0', '0E-0', '1e999999', '-1e-999999', '12345678901234567890123456789e-5', '-0.0e+0', '01', '00', '-01', '1.e5', '.1', '+1', '1e+', '0x1', '1_0', '1.5e3.2', '2.'),
    fc.tuple(fc.constantFrom('', '-'), fc.stringMatching(/^(0|[1-9][0-9]{0,20})$/), fc.option(fc.stringMatching(/^[0-9]{1,20}$/)), fc.option(fc.stringMatching(/^[eE][+-]?[0-9]{1,6}$/)))
      .map(([sign, int, frac, exp]) => `${sign}${int}${frac === null ? '' : `.${frac}`}${exp ?? ''}`),
  );
  const text = fc.oneof(fc.string({ maxLength: 80 }).map((t) => JSON.stringify(t)), bracketString, fc.constantFrom('"hi"', '"  a  b "', '""'));
  const member = fc.tuple(key, fc.oneof(text, number, nested, fc.constantFrom('true', 'null'))).map(([k, v]) => `${k}:${v}`);
  const object = fc.tuple(fc.array(member, { maxLength: 5 }), fc.option(text)).map(([ms, t]) => `{${[...ms, ...(t === null ? [] : [`"text":${t}`])].join(',')}}`);
  const partList = fc.array(fc.oneof(object, text, number, nested), { maxLength: 6 }).map((ps) => `[${ps.join(',')}]`);
  const wrapped = fc.tuple(fc.integer({ min: 0, max: 135 }), partList).map(([d, inner]) => `${'['.repeat(d)}${inner}${']'.repeat(d)}`);
  const damaged = (doc: fc.Arbitrary<string>) => fc.tuple(doc, fc.nat(), fc.constantFrom('"', '\\', ']', '}', '[', '{', 'x', '-', 'e', '.', '0'))
    .map(([d, at, c]) => { const i = d.length ? at % d.length : 0; return d.slice(0, i) + c + d.slice(i + 1); });
  fc.assert(fc.property(fc.oneof(partList, object, wrapped, nested, damaged(partList), damaged(wrapped), damaged(object)), fc.integer({ min: 1, max: 80 }), (body, max) => same(body, max)), { numRuns: 10_000 });
});

test('depth: 128 levels are read, 129 are shown as text, whether the depth is in a part or around it', () => {
  const depths = fc.integer({ min: 120, max: 135 });
  fc.assert(fc.property(depths, fc.boolean(), (d, around) => {
    const deep = `${'['.repeat(d)}${']'.repeat(d)}`;
    same(around ? `${'['.repeat(d - 1)}{"text":"inside"}${']'.repeat(d - 1)}` : `[{"type":"text","text":"hi"},${deep}]`);
    same(`[{"type":"text","text":"hi","x":${'{"a":'.repeat(d)}1${'}'.repeat(d)}}]`);
  }));
});

test('escapes, cut anywhere in the preview: pairs, quotes, escaped whitespace, a key spelled with escapes', () => {
  same(String.raw`[{"type":"text","text":"say \"hi\" \\ back\/slash \ud83d\ude00 \u00e9t\u00e9 \ud83d alone"}]`);
  same(String.raw`[{"t\u0065xt":"escaped key"}]`);
  same(String.raw`{"\u0074\u0065\u0078\u0074":"top-level object"}`);
  same(String.raw`"a top-level string\nwith a newline"`);
  for (let max = 1; max <= 40; max++) {
    same(`[{"type":"text","text":"${'\\ud83d\\ude00'.repeat(30)}"}]`, max);
    same(`[{"type":"text","text":"${'\\n\\t\\u0020'.repeat(100)}${'\\"é\\u00e9'.repeat(30)}"}]`, max);
    same(`["${'\\u0020'.repeat(400)}", "${'x\\ny'.repeat(40)}", {"text":"${'\\\\'.repeat(50)}"}]`, max);
  }
});

test('text after huge non-text parts, nested lists, non-string and duplicate text fields, empty parts', () => {
  const image = `{"type":"image_url","image_url":{"url":"data:image/png;base64,${'QUJD'.repeat(250_000)}"}}`;
  same(`[${image},${image},{"type":"text","text":"after a megabyte of pictures"}]`);
  same(`[["nested", {"text":"not a part"}], {"text":["a list"]}, {"text":7}, {"text":null}, "a string part", {"text":"kept"}]`);
  same(`[{"text":"first","text":5}, {"text":5,"text":"second"}, {"text":"a","text":"b"}]`);
  same(`["", {"text":""}, "", {"text":"after empty parts"}, ""]`);
  same(`[{"type":"text","text":"${' '.repeat(5000)}"},"${'\\n'.repeat(3000)}",{"text":"  words after blank parts  "}]`);
  for (const scalarDoc of ['7', 'true', 'null', '[]', '{}', '""', '" "', '[1, 2.5e3, -0]']) same(scalarDoc);
});

test('malformed documents are shown as their text, whatever the defect and wherever it is', () => {
  const image = `{"type":"image_url","image_url":{"url":"data:image/png;base64,${'QUJD'.repeat(250_000)}"}}`;
  const good = `[{"type":"text","text":"hello"},${image}]`;
  for (const bad of [`${good}x`, `${good},`, good.slice(0, -1), `${good.slice(0, -3)}"\u0001"}]`, `[{"type":"text","text":"hello"}] [1]`,
    '[{"text":"a"},]', '[01]', '[1.]', '{"text":"a",}', '{"text" "a"}', '["\\x"]', '["\\u12"]', '["tab\there"]', '\ufeff["bom"]', '[\u00a0"nbsp"]', '', ' ', '{broken', '[tru]', '[-]']) {
    same(bad);
  }
});

test('a plain message and a value that is not a string are read as before', () => {
  for (const raw of ['plain text', '  spaced   out  ', '', null, undefined, 42, new Uint8Array([1, 2]), '\u0000jso:[1]', '\u0000json:']) {
    expect(previewOf(raw)).toBe(oraclePreview(raw));
  }
});

test('the preview of megabytes of parts decodes only the text it shows, never the whole document', () => {
  const image = `{"type":"image_url","image_url":{"url":"data:image/png;base64,${'QUJD'.repeat(250_000)}"}}`;
  const log = `{"type":"text","text":"${'INFO handled \\"GET /\\" in 12 ms\\n'.repeat(30_000)}"}`;
  for (const body of [`[${image},${image},{"type":"text","text":"after the pictures"}]`, `[${log},${image}]`, `[${image},${log}]`]) {
    const expected = oraclePreview(PREFIX + body);
    const parse = spyOn(JSON, 'parse');
    try {
      expect(previewOf(PREFIX + body)).toBe(expected);
      expect(Math.max(0, ...parse.mock.calls.map(([text]) => String(text).length))).toBeLessThan(1_000);
    } finally {
      parse.mockRestore();
    }
  }
});

let app: TestApp | undefined;
let fx: StateDbFixture | undefined;
afterEach(() => {
  fx?.close();
  app?.close();
  fx = app = undefined;
});

test('GET /api/sessions shows the text part of a first message of megabytes of screenshots, and its text when it is damaged', async () => {
  app = await makeTestApp();
  fx = createStateDb(app.home, 'v19');
  const image = { type: 'image_url', image_url: { url: `data:image/png;base64,${'QUJD'.repeat(250_000)}` } };
  const shots = multimodal([...Array.from({ length: 2 }, () => image), { type: 'text', text: 'What  is\nin these\tscreenshots? "\u00e9" 😀' }]);
  fx.addSession({ id: 's_shots', started_at: 1_780_000_000 }, [{ role: 'user', content: shots, timestamp: 1_780_000_001 }]);
  fx.addSession({ id: 's_damaged', started_at: 1_780_000_100 }, [{ role: 'user', content: `${shots.slice(0, -1)},]`, timestamp: 1_780_000_101 }]);
  const res = await app.json<{ items: { id: string; preview: string | null }[] }>('GET', '/api/sessions');
  expect(res.status).toBe(200);
  expect(res.body.items.map((s) => [s.id, s.preview])).toEqual([
    ['s_damaged', '[{"type":"image_url","image_url":{"url":"data:image/png;base…'],
    ['s_shots', 'What is in these screenshots? "é" 😀'],
  ]);
});

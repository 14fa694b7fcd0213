/** The .env reader against python-dotenv (1.2), which Hermes uses: expected values are what it returns. */
import { expect, test } from 'bun:test';
import { parseDotenv } from '../src/lib/dotenv';

test.each([
  ['a double-quoted value spanning lines is one value', 'A=1\nKEY="-----BEGIN-----\nabc\ndef=\n-----END-----"\nB=2\n', { A: '1', KEY: '-----BEGIN-----\nabc\ndef=\n-----END-----', B: '2' }],
  ['a single-quoted one too, with \\\' unescaped', "S='multi\nline \\' q'\nT=2", { S: "multi\nline ' q", T: '2' }],
  ['CRLF inside and around quotes', 'A=1\r\nB="x\r\ny"\r\nC=3', { A: '1', B: 'x\r\ny', C: '3' }],
  ['export, spaces around =, inline comments', 'export A = 1 # c\n  B=two words  # note\nC=x#y\nD= #c\nE\nF=\n#G=1\n', { A: '1', B: 'two words', C: 'x#y', D: '#c', F: '' }],
  ['a quoted value followed by a comment loses its quotes', 'API_KEY="k-123" # note\nK2=\'abc\'   # x\nP="9123"#c\n', { API_KEY: 'k-123', K2: 'abc', P: '9123' }],
  ['an unclosed quote skips that line only', 'A="unclosed\nB=2\n', { B: '2' }],
  ['text after a closing quote skips the binding', 'A="x" junk\nB=2\n', { B: '2' }],
  ['escapes in double quotes', 'A="a\\tb\\nc\\\\d\\"e\\q"\n', { A: 'a\tb\nc\\d"e\\q' }],
  ['a quoted key', "'QK'=v\n", { QK: 'v' }],
  ['no name, or a name with a space, is skipped', '=novalue\nKEY WITH SPACE=1\nK=v\n', { K: 'v' }],
  ['${VAR} is kept as written', 'A=${HOME}\n', { A: '${HOME}' }],
  ['a leading BOM is not part of the first name', '\ufeffAPI_SERVER_KEY=k\n', { API_SERVER_KEY: 'k' }],
])('%s', (_name, text, expected) => {
  expect(parseDotenv(text)).toEqual(expected);
});

test('a long run of blanks inside a value is read in linear time (it was rescanned from each blank)', () => {
  const t0 = performance.now();
  const parsed = parseDotenv(`NOTE=a${' '.repeat(300_000)}b\nX=1 # c\n`);
  // Quadratic: ~60 s at this size; linear: milliseconds. Generous for a slow machine.
  expect(performance.now() - t0).toBeLessThan(2000);
  expect([parsed.NOTE?.length, parsed.X]).toEqual([300_002, '1']);
});

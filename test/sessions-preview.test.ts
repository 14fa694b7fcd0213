/**
 * The session preview reads only as much of the first message as it shows (a 50 MB pasted log made
 * every session list showing it take seconds): it must say exactly what collapsing and cutting the
 * whole message says, whatever the whitespace runs, graphemes and cut points.
 */
import { expect, test } from 'bun:test';
import fc from 'fast-check';
import { previewOf } from '../src/modules/sessions/content';
import { cutText } from '../src/lib/text';

/** The preview of the whole message, as it was computed before. */
function wholePreview(text: string, max: number): string | null {
  const collapsed = text.replace(/\s+/g, ' ').trim();
  return collapsed ? cutText(collapsed, max) : null;
}

// Pieces that make cut points hard: whitespace of several kinds, combining marks, ZWJ emoji,
// regional indicator pairs, Hangul jamo, lone surrogates, CRLF.
const PIECES = [' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u2003', 'a', 'Z', '9', 'é', 'e\u0301', '\u0301', '👩‍💻', '🇫🇷', '🇫', '\u1100\u1161', '\ud83d', '\ude00', '会', 'ok'];
const message = fc.array(fc.oneof(fc.constantFrom(...PIECES), fc.constantFrom(' '.repeat(300), 'x'.repeat(150))), { maxLength: 400 }).map((parts) => parts.join(''));

test('a preview from the start of the message equals the preview of the whole message', () => {
  fc.assert(fc.property(message, fc.integer({ min: 1, max: 80 }), (text, max) => {
    expect(previewOf(text, max)).toBe(wholePreview(text, max));
  }), { numRuns: 5000 });
});

test('a long run of whitespace before the words, and a message of whitespace only', () => {
  const words = 'the words after a pasted gap';
  expect(previewOf(`${' \n'.repeat(200_000)}${words}`)).toBe(words);
  expect(previewOf(' \t\n'.repeat(100_000))).toBeNull();
  expect(previewOf(`${'word '.repeat(2_000_000)}end`)).toBe(wholePreview(`${'word '.repeat(100)}end`, 60));
});

/**
 * Content with a long run of spaces inside it. The strip that the content check and the store apply
 * (Python's str.strip) was a regex `\s+$`, which tries every start in a run and reads the run to its
 * end from each: 'a', 40,000 spaces, 'b' held the event loop 5 s, and 100,000 spaces (refused as too
 * long, but only after stripping) 40 s. A scan from each end reads each space once.
 * Without the fix, the 600,000-space strip below takes minutes and fails by the suite's 120-s hang check.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { pyStrip } from '../src/modules/memory/pytext';
import { makeTestApp, type TestApp } from './helpers/app';

let t: TestApp | undefined;
afterEach(() => t?.close());

describe('pyStrip', () => {
  test('strips what Python strips from both ends and keeps the inside', () => {
    const spaces = '\t\n\u000b\f\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000';
    expect(pyStrip(`${spaces}a${spaces}b${spaces}`)).toBe(`a${spaces}b`);
    expect(pyStrip(spaces)).toBe('');
    expect(pyStrip('')).toBe('');
    // Not Python spaces: the zero-width no-break space and the zero-width space stay.
    expect(pyStrip('\ufeffa\u200b')).toBe('\ufeffa\u200b');
  });

  // The old regex needed minutes for this: the run fails by the hang check (test/setup.ts), not by a timed assertion.
  test('a run of 600,000 spaces inside the text is read once', () => {
    const inner = ' '.repeat(600_000);
    expect(pyStrip(` a${inner}b `)).toBe(`a${inner}b`);
  });
});

for (const backend of ['sqlite', 'holographic']) {
  test(`${backend}: content with 60,000 spaces inside is stored; a run of 100,000 is a 422`, async () => {
    t = await makeTestApp({ env: { MEMORY_BACKEND: backend } });
    const content = `a${' '.repeat(60_000)}b`;
    const ok = await t.json<{ memory: { content: string } }>('POST', '/api/memory', { content: `  ${content}\n` });
    expect(ok.status).toBe(201);
    expect(ok.body.memory.content).toBe(content);
    const long = await t.json('POST', '/api/memory', { content: `a${' '.repeat(100_000)}b` });
    expect(long.status).toBe(422);
    expect(JSON.stringify(long.body)).toContain('at most 65536 characters');
  });
}

/**
 * Output to a reader that stalls or goes away: memory stays bounded, the gap is reported once the
 * reader catches up, a vanished reader stops nothing, and exiting does not wait forever.
 */
import { expect, test } from 'bun:test';
import { outputChannel, type Sink } from '../src/lib/stdio';

/** A descriptor whose reader the test stalls and resumes. */
function fakeSink() {
  const taken: string[] = [];
  let held: string[] = [];
  let release: (() => void) | null = null;
  const state = { stalled: false, broken: false };
  const sink: Sink = {
    write(chunk) {
      held.push(String(chunk));
      return String(chunk).length;
    },
    flush() {
      if (state.broken) return Promise.reject(new Error('EPIPE'));
      if (!state.stalled) {
        taken.push(...held);
        held = [];
        return 0;
      }
      return new Promise<number>((resolve) => {
        release = () => {
          taken.push(...held);
          held = [];
          resolve(0);
        };
      });
    },
  };
  return {
    sink, taken, state,
    heldChars: () => held.join('').length,
    resume() {
      state.stalled = false;
      const r = release;
      release = null;
      r?.();
    },
  };
}

const line = (i: number) => `{"msg":"request","n":${i}}\n`;

test('a stalled reader: output queues up to the bound, the rest is dropped and counted, then reported', async () => {
  const fake = fakeSink();
  const out = outputChannel(() => fake.sink, 1000);
  out.write(line(0));
  fake.state.stalled = true;
  out.write(line(1)); // taken by the sink, which now waits for the reader
  for (let i = 2; i < 10_000; i++) out.write(line(i));
  expect(fake.heldChars()).toBe(line(1).length);
  fake.resume();
  await out.flush(1000);
  const text = fake.taken.join('');
  const kept = text.split('\n').filter((l) => l.startsWith('{"msg"'));
  const queuedChars = kept.slice(2).reduce((n, l) => n + l.length + 1, 0);
  expect(queuedChars).toBeLessThanOrEqual(1000);
  expect(queuedChars).toBeGreaterThan(1000 - line(9999).length);
  expect(kept.slice(0, 3)).toEqual([line(0), line(1), line(2)].map((l) => l.trim()));
  const note = JSON.parse(text.trim().split('\n').at(-1) as string);
  expect(note).toMatchObject({ level: 'warn', msg: 'output dropped: the reader of this stream was not keeping up' });
  expect(note.lines + kept.length).toBe(10_000);
  // Caught up: the next line goes straight out, with no second note.
  out.write(line(10_000));
  expect(fake.taken.at(-1)).toBe(line(10_000));
});

test('a reader that went away: later output is dropped without an error', async () => {
  const fake = fakeSink();
  const out = outputChannel(() => fake.sink, 1000);
  fake.state.broken = true;
  out.write(line(1));
  await out.flush(1000);
  fake.state.broken = false;
  out.write(line(2));
  expect(fake.taken).toEqual([]);
});

test('exiting waits for a stalled reader only until the deadline', async () => {
  const fake = fakeSink();
  const out = outputChannel(() => fake.sink, 1000);
  fake.state.stalled = true;
  out.write(line(1));
  const t0 = performance.now();
  await out.flush(50);
  expect(performance.now() - t0).toBeLessThan(1000);
  expect(fake.taken).toEqual([]);
  fake.resume();
  await out.flush(1000);
  expect(fake.taken).toEqual([line(1)]);
});

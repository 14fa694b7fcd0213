/**
 * ReadLine (src/db/shared-reads.ts) paces the long reads of the agent's files: a read starts no sooner
 * after the last ended than the last took, so the agent's checkpoint can pass between snapshots. The
 * pause is capped: as long as a read that took seconds, it made the next request wait as long again.
 * The clock here moves by hand, so the test says which pause was asked for, not how long one took.
 */
import { expect, test } from 'bun:test';
import { MAX_READ_PAUSE_MS, ReadLine } from '../src/db/shared-reads';
import { handLineClock } from './helpers/hand-clock';

test('after a read that took 2 s, the next waits MAX_READ_PAUSE_MS, not 2 s', async () => {
  const clock = handLineClock();
  const line = new ReadLine(clock);
  await line.run(async () => {
    clock.ms += 2000;
  });
  await line.run(async () => {});
  expect(clock.slept).toEqual([MAX_READ_PAUSE_MS]);
});

test('after a read shorter than the cap, the next waits as long as it took', async () => {
  const clock = handLineClock();
  const line = new ReadLine(clock);
  await line.run(async () => {
    clock.ms += 40;
  });
  clock.ms += 10;
  await line.run(async () => {});
  expect(clock.slept).toEqual([30]);
});

test('a read asked once the pause is over starts at once', async () => {
  const clock = handLineClock();
  const line = new ReadLine(clock);
  await line.run(async () => {
    clock.ms += 2000;
  });
  clock.ms += MAX_READ_PAUSE_MS;
  let started = false;
  const second = line.run(async () => {
    started = true;
  });
  // Started in the call: nothing to wait for.
  expect(started).toBe(true);
  await second;
  expect(clock.slept).toEqual([]);
});

/** A file's commit stamp set by the test (ReadLine's `stamp`). */
function stampOf(): { v: number; read: () => number } {
  const s = { v: 0, read: () => s.v };
  return s;
}

test('with nothing committed since the last read began, the next starts at once, without the pause', async () => {
  const clock = handLineClock();
  const file = stampOf();
  const line = new ReadLine(clock, file.read);
  await line.run(async () => {
    clock.ms += 40;
  });
  let started = false;
  const second = line.run(async () => {
    started = true;
  });
  expect(started).toBe(true);
  await second;
  expect(clock.slept).toEqual([]);
});

test('a read waiting behind another skips the pause after it when nothing was committed', async () => {
  const clock = handLineClock();
  const file = stampOf();
  const line = new ReadLine(clock, file.read);
  const first = line.run(async () => {
    await Promise.resolve();
    clock.ms += 40;
  });
  await Promise.all([first, line.run(async () => {})]);
  expect(clock.slept).toEqual([]);
});

test('a commit since the last read ended, or during it, keeps the pause', async () => {
  const clock = handLineClock();
  const file = stampOf();
  const line = new ReadLine(clock, file.read);
  await line.run(async () => {
    clock.ms += 40;
  });
  file.v++;
  await line.run(async () => {
    clock.ms += 30;
    // The agent commits while this read's snapshot is open.
    file.v++;
  });
  await line.run(async () => {});
  expect(clock.slept).toEqual([40, 30]);
});

test('a stamp that cannot be read counts as a commit: the pause holds', async () => {
  const clock = handLineClock();
  const line = new ReadLine(clock, () => {
    throw new Error('closed database');
  });
  await line.run(async () => {
    clock.ms += 40;
  });
  await line.run(async () => {});
  expect(clock.slept).toEqual([40]);
});

/**
 * config.yaml edited by two sidecar processes on one Hermes home: every acknowledged edit lands (a
 * lock file beside the target serialises them across processes), and temp files of a killed process
 * are cleaned up.
 */
import { expect, test } from 'bun:test';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { editFile } from '../src/modules/config/store';
import { tempDir } from './helpers/app';

const EDITS = 150;

test('two processes appending to one config.yaml lose no acknowledged edit', async () => {
  const path = join(tempDir(), 'config.yaml');
  writeFileSync(path, '# shared\n');
  const other = Bun.spawn(['bun', join(import.meta.dir, 'fixtures/config-editor-process.ts'), path, 'b', String(EDITS)], { stdout: 'pipe', stderr: 'inherit' });
  let mine = 0;
  for (let i = 0; i < EDITS; i++) {
    try {
      await editFile(path, (text) => `${text}a_k${i}: ${i}\n`);
      mine++;
    } catch {
      // 409 config_busy: not acknowledged
    }
  }
  expect(await other.exited).toBe(0);
  const theirs = (JSON.parse(await new Response(other.stdout).text()) as { done: number }).done;
  const text = readFileSync(path, 'utf8');
  const count = (prefix: string) => text.split('\n').filter((l) => l.startsWith(`${prefix}_k`)).length;
  expect({ a: count('a'), b: count('b') }).toEqual({ a: mine, b: theirs });
  // Nearly all edits are acknowledged: the lock makes them wait their turn rather than fail.
  expect(mine + theirs).toBeGreaterThan(EDITS * 1.8);
  expect(existsSync(join(path, '..', '.config.yaml.lock'))).toBe(false);
}, 120_000);

test('a stale lock (a process that is gone) and its temp files do not block or linger', async () => {
  const dir = tempDir();
  const path = join(dir, 'config.yaml');
  writeFileSync(path, 'a: 1\n');
  // A pid that cannot be alive, as a process killed mid-edit leaves them.
  const dead = 2 ** 22 + 12345;
  const lock = join(dir, '.config.yaml.lock');
  writeFileSync(lock, String(dead));
  const old = new Date(Date.now() - 10_000);
  utimesSync(lock, old, old);
  const leftover = join(dir, `.config.yaml.${dead}.abcd1234.tmp`);
  writeFileSync(leftover, 'a: 1\nsecret: old\n');
  const live = join(dir, `.config.yaml.${process.pid}.efgh5678.tmp`);
  writeFileSync(live, 'in flight\n');
  await editFile(path, (text) => `${text}b: 2\n`);
  expect(readFileSync(path, 'utf8')).toBe('a: 1\nb: 2\n');
  expect([existsSync(lock), existsSync(leftover), existsSync(live)]).toEqual([false, false, true]);
});

test('a lock and a temp file left by an earlier process with this pid (PID 1 in a restarted container) do not block the edits', async () => {
  const dir = tempDir();
  const path = join(dir, 'config.yaml');
  writeFileSync(path, 'a: 1\n');
  // What a sidecar running as PID 1 leaves when it is killed mid-edit, found by the next PID 1 as soon as it starts.
  const lock = join(dir, '.config.yaml.lock');
  writeFileSync(lock, String(process.pid));
  const leftover = join(dir, `.config.yaml.${process.pid}.abcd1234.tmp`);
  writeFileSync(leftover, 'a: 1\nsecret: old\n');
  const before = new Date(performance.timeOrigin - 60_000);
  utimesSync(leftover, before, before);
  const started = Date.now();
  await editFile(path, (text) => `${text}b: 2\n`);
  // Taken over once the lock is as old as a dead process's (2 s), not after the 30 s of a live holder.
  expect(Date.now() - started).toBeLessThan(2_900);
  expect(readFileSync(path, 'utf8')).toBe('a: 1\nb: 2\n');
  expect([existsSync(lock), existsSync(leftover)]).toEqual([false, false]);
});

test('a stale lock stamped in the future (the clock was set back since) does not refuse every edit until the clock catches up', async () => {
  const dir = tempDir();
  const path = join(dir, 'config.yaml');
  writeFileSync(path, 'a: 1\n');
  const lock = join(dir, '.config.yaml.lock');
  writeFileSync(lock, String(2 ** 22 + 12345));
  // Written by a process now gone, an hour "ahead" of this clock: NTP stepped the clock back since.
  const ahead = new Date(Date.now() + 3_600_000);
  utimesSync(lock, ahead, ahead);
  await editFile(path, (text) => `${text}b: 2\n`);
  expect(readFileSync(path, 'utf8')).toBe('a: 1\nb: 2\n');
  expect(existsSync(lock)).toBe(false);
});

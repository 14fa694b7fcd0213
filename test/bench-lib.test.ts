/**
 * The benchmarks' child-process helper (scripts/bench/lib.ts): a child that fails to start must fail
 * the benchmark, not hang it or be left running behind it.
 */
import { expect, test } from 'bun:test';
import { spawnWithPort } from '../scripts/bench/lib';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a child that keeps running without announcing its port fails the call once its deadline passes, and is stopped', async () => {
  // Prints once (not the port), then waits silently: a read of its stdout never returns.
  const child = ['bun', '-e', 'console.log(`pid ${process.pid}, starting`); setInterval(() => {}, 1000)'];
  const err = await spawnWithPort(child, {}, /port (\d+)/, { deadlineMs: 500 }).then(() => null, (e: unknown) => e);
  expect(String(err)).toMatch(/did not announce a port within 0\.5 s: pid \d+, starting/);
  const pid = Number(/pid (\d+)/.exec(String(err))?.[1]);
  expect(alive(pid)).toBe(false);
});

test('a child that exits before announcing its port fails the call at once, with what it printed', async () => {
  const err = await spawnWithPort(['bun', '-e', 'console.log("no port"); process.exit(3)'], {}, /port (\d+)/).then(() => null, (e: unknown) => e);
  expect(String(err)).toMatch(/did not announce a port within 15 s: no port/);
});

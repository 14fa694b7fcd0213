/**
 * Temp dirs for tests, all inside one directory per test run, which test/setup.ts removes once every
 * file has run: a test that fails before its own cleanup, or a dir shared between files (the built
 * executable, 130 MB), is not left behind in the system temp dir run after run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let root: string | null = null;

export function tempDir(prefix = 'optx-test-'): string {
  root ??= mkdtempSync(join(tmpdir(), 'optx-tests-'));
  return mkdtempSync(join(root, prefix));
}

/** Removes every dir tempDir made in this process. */
export function removeTempDirs(): void {
  if (root) rmSync(root, { recursive: true, force: true });
  root = null;
}

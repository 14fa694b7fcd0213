#!/usr/bin/env bun
/**
 * test/setup.ts puts the default time limit in front of every test file's text: in front of a shebang
 * too, where a `#!` line is no longer the first and the file did not parse (a Syntax Error, the file's
 * tests never ran). This file starts with one.
 */
import { expect, test } from 'bun:test';

test('a test file that starts with a shebang still loads, with its line numbers kept', () => {
  // The stack's line of this call is the line in this file (the setup adds nothing on a line of its own).
  const line = Number(/shebang\.test\.ts:(\d+)/.exec(new Error().stack ?? '')?.[1]);
  expect(line).toBe(11);
});

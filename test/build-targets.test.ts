/**
 * scripts/build.ts options: an option it does not know stops the build instead of being ignored;
 * an ignored `--target=bun-linux-arm64` shipped an x64 binary for an arm64 device. The cross build
 * itself fetches Bun's runtime for the target from the npm registry, so .ci/run checks it, not this
 * (offline) suite.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/app';

const BUILD = join(import.meta.dir, '../scripts/build.ts');

function build(args: string[]) {
  return Bun.spawnSync(['bun', BUILD, ...args], { stdout: 'pipe', stderr: 'pipe' });
}

describe('build script options', () => {
  test('an unknown option, a target that is not a Bun target, or a missing value stops the build with one line', () => {
    const out = join(tempDir('optx-build-'), 'hermes-optx-api');
    for (const [args, says] of [
      [['--targte=bun-linux-arm64'], 'unknown option "--targte=bun-linux-arm64"'],
      [['--target', 'linux-arm64'], 'expected a Bun compile target'],
      [['--target=bun-linux-arm65'], 'bun-linux-arm65'],
      [['--target'], '--target needs a value'],
    ] as const) {
      const r = build([...args, '--outfile', out]);
      expect([args, r.exitCode]).toEqual([args, 2]);
      const err = r.stderr.toString().trim();
      expect(err.split('\n').length).toBe(1);
      expect(err).toContain(says);
      expect(existsSync(out)).toBe(false);
    }
  });
});

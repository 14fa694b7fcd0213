/**
 * What start-up loads is what idle RSS pays for: a Node builtin module maps its part of the runtime
 * into every sidecar, used or not (node:net, loaded for `isIP` alone, cost ~0.7 MB). The server is
 * bundled as the executable is (code split) and the chunks start-up loads, the entry and what it
 * imports statically, are checked for builtins it does without; lazily imported chunks (chain
 * libraries, MPP, the OpenAPI generator) may use anything.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/app';

const ROOT = join(import.meta.dir, '..');
/** Builtins start-up must not load (see src/lib/ip.ts for node:net). */
const AVOIDED = ['net'];

describe('what start-up loads', () => {
  test('the chunks loaded at start import no node:net', async () => {
    const outdir = tempDir('optx-startup-');
    const result = await Bun.build({
      entrypoints: [join(ROOT, 'src/main.ts')],
      outdir,
      splitting: true,
      format: 'esm',
      target: 'bun',
      external: ['@modelcontextprotocol/sdk', '@modelcontextprotocol/sdk/*'],
    });
    expect(result.success).toBe(true);
    const entry = result.outputs.find((o) => o.kind === 'entry-point');
    expect(entry).toBeDefined();
    // Static imports only (`import … from "x"`, `import "x"`); `import("x")` is a lazy chunk.
    const STATIC = /(?:^|[;\n])\s*(?:import|export)\s*(?:[^'"();]*?\sfrom\s*)?["']([^"']+)["']/g;
    const seen = new Set<string>();
    const builtins = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(STATIC)) {
        if (spec!.startsWith('./')) visit(join(outdir, spec!));
        else builtins.add(spec!.replace(/^node:/, ''));
      }
    };
    visit(entry!.path);
    expect(seen.size).toBeGreaterThan(1); // the shared chunk (Elysia, zod, drizzle) was followed
    expect(builtins.has('fs')).toBe(true); // the scan sees builtins at all
    expect(AVOIDED.filter((b) => builtins.has(b))).toEqual([]);
  });
});

/**
 * Compiles the server into one self-contained executable: dist/hermes-optx-api (migrations, docs page
 * and all dependencies embedded). `--outfile <path>` builds elsewhere (tests use a temp dir).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const root = join(import.meta.dir, '..');
const i = process.argv.indexOf('--outfile');
const outfile = i > 0 ? (process.argv[i + 1] as string) : join(root, 'dist/hermes-optx-api');

// The sourcemaps of the previous build: their chunk names change with the code, so without this
// every build would leave another set behind.
const outDir = dirname(outfile);
for (const name of existsSync(outDir) ? readdirSync(outDir) : []) {
  if (name === `${basename(outfile)}.map` || /^chunk-[a-z0-9]+\.js\.map$/.test(name)) rmSync(join(outDir, name), { force: true });
}

const result = await Bun.build({
  entrypoints: [join(root, 'src/main.ts')],
  compile: { outfile, autoloadDotenv: false },
  minify: true,
  bytecode: true,
  // Lazily imported parts (viem, @solana/kit, mppx, the OpenAPI generator) become their own chunks
  // inside the executable, so start-up neither loads nor keeps their code unless configured:
  // ~5 MB less idle RSS than one bundle. Splitting needs ESM.
  splitting: true,
  format: 'esm',
  sourcemap: 'linked',
  target: 'bun',
  // mppx's MCP transport imports this optional peer lazily; the sidecar never uses MCP payments.
  external: ['@modelcontextprotocol/sdk', '@modelcontextprotocol/sdk/*'],
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile}`);

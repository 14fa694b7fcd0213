/**
 * Compiles the server into one self-contained executable: dist/hermes-optx-api (migrations, docs page
 * and all dependencies embedded). `--outfile <path>` builds elsewhere (tests use a temp dir).
 *
 * The bytecode is laid out by the profile in scripts/hermes-optx-api.order (`bun run build:order`
 * records it again): what start-up runs sits together at the front of the file, so a start touches
 * fewer of the executable's pages. The JIT starts reluctant (run-once start-up code stays in the
 * interpreter) and main.ts restores the normal policy once the first upstream probe has settled.
 * Together: idle RSS 64.0 → 58.2 MB, start 140 → 113 ms (scripts/bench/binary.ts).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const root = join(import.meta.dir, '..');
const i = process.argv.indexOf('--outfile');
const outfile = i > 0 ? (process.argv[i + 1] as string) : join(root, 'dist/hermes-optx-api');
const BYTECODE_ORDER = join(root, 'scripts/hermes-optx-api.order');

// The sourcemaps of the previous build: their chunk names change with the code, so without this
// every build would leave another set behind.
const outDir = dirname(outfile);
for (const name of existsSync(outDir) ? readdirSync(outDir) : []) {
  if (name === `${basename(outfile)}.map` || /^chunk-[a-z0-9]+\.js\.map$/.test(name)) rmSync(join(outDir, name), { force: true });
}

const haveOrder = existsSync(BYTECODE_ORDER);
if (!haveOrder) console.warn(`note: ${BYTECODE_ORDER} is missing: building without a bytecode layout (idle RSS ~2 MB higher); \`bun run build:order\` records it`);

const result = await Bun.build({
  entrypoints: [join(root, 'src/main.ts')],
  compile: {
    outfile,
    autoloadDotenv: false,
    // A profile from an older build still applies: functions are matched by a hash of their syntax,
    // and ones it does not know are placed after the ones it does.
    bytecodeOrder: haveOrder && BYTECODE_ORDER,
    jitPolicy: 16,
  },
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

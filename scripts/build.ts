/**
 * Compiles the server into one self-contained executable: dist/hermes-optx-api (migrations, docs page
 * and all dependencies embedded). `--outfile <path>` builds elsewhere (tests use a temp dir).
 * `--target <bun target>` cross-compiles, e.g. for an edge device: `bun-linux-arm64`,
 * `bun-linux-x64-musl` (Alpine), `bun-linux-x64-baseline` (x64 CPUs without AVX2); the output is
 * dist/<target without "bun-">/hermes-optx-api unless `--outfile` says otherwise. Bun fetches the
 * runtime for the target from the npm registry on first use and caches it.
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
const { outfile: outArg, target } = parseArgs(process.argv.slice(2));
const outfile = outArg ?? join(root, 'dist', target ? target.replace(/^bun-/, '') : '', 'hermes-optx-api');
const BYTECODE_ORDER = join(root, 'scripts/hermes-optx-api.order');

// The sourcemaps of the previous build: their chunk names change with the code, so without this
// every build would leave another set behind.
const outDir = dirname(outfile);
for (const name of existsSync(outDir) ? readdirSync(outDir) : []) {
  if (name === `${basename(outfile)}.map` || /^chunk-[a-z0-9]+\.js\.map$/.test(name)) rmSync(join(outDir, name), { force: true });
}

const haveOrder = existsSync(BYTECODE_ORDER);
if (!haveOrder) console.warn(`note: ${BYTECODE_ORDER} is missing: building without a bytecode layout (idle RSS ~2 MB higher); \`bun run build:order\` records it`);

let result: Bun.BuildOutput;
try {
  result = await Bun.build({
    entrypoints: [join(root, 'src/main.ts')],
    compile: {
      outfile,
      // A cross build keeps the bytecode and its layout: neither depends on the machine (checked by
      // running a bun-linux-arm64 build under qemu).
      ...(target && { target }),
      autoloadDotenv: false,
      // Bun's default would read a bunfig.toml from whatever directory the executable is started in:
      // its `preload` ran that directory's scripts inside the sidecar, and a malformed one stopped start-up.
      autoloadBunfig: false,
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
    // Bun embeds the sourcemaps in the executable with any value but 'none' ('external' too), and the
    // stacks in the logs then name src/ lines. They are read only when a stack is worked out: 'none'
    // saves 3.9 MB of file but no idle RSS (59.7 MB either way), and its stacks name minified chunks.
    sourcemap: 'linked',
    target: 'bun',
    // mppx's MCP transport imports this optional peer lazily; the sidecar never uses MCP payments.
    external: ['@modelcontextprotocol/sdk', '@modelcontextprotocol/sdk/*'],
  });
} catch (err) {
  // An unknown target is thrown, not logged: one line rather than a stack.
  fail(err instanceof Error ? err.message : String(err));
}
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile}${target ? ` (${target})` : ''}`);

/**
 * `--outfile`/`--target`, each as `--name value` or `--name=value`. Anything else stops the build:
 * an option silently ignored would ship a binary for the wrong machine.
 */
function parseArgs(argv: string[]): { outfile?: string; target?: Bun.Build.CompileTarget } {
  const opts: { outfile?: string; target?: string } = {};
  for (let k = 0; k < argv.length; k++) {
    const m = /^--(outfile|target)(?:=(.*))?$/.exec(argv[k] as string);
    // The next word is the value unless it is another option (`--target --outfile x`).
    const value = m && (m[2] ?? (argv[k + 1]?.startsWith('-') ? undefined : argv[++k]));
    if (!m || !value) fail(m ? `--${m[1]} needs a value` : `unknown option ${JSON.stringify(argv[k])} (options: --outfile <path>, --target <bun target>)`);
    opts[m[1] as 'outfile' | 'target'] = value;
  }
  // Bun checks the rest of the name when it builds and names what it does not know.
  if (opts.target && !/^bun-[a-z0-9-]+$/.test(opts.target)) fail(`--target ${JSON.stringify(opts.target)}: expected a Bun compile target such as bun-linux-arm64 or bun-linux-x64-musl`);
  return opts as { outfile?: string; target?: Bun.Build.CompileTarget };
}

function fail(message: string): never {
  console.error(`build: ${message}`);
  process.exit(2);
}

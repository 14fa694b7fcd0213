/**
 * The compiled executable for tests that spawn it: built once per test run into a temp dir
 * (bun test runs all files in one process, so the promise is shared), and a way to start it and
 * learn its port from the line where it says where it listens.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './app';

let built: Promise<string> | null = null;
let builtPath: string | null = null;

export function ensureBinary(): Promise<string> {
  // The run's temp dirs are removed once every file has run, and with --rerun-each after every round:
  // the next round then spawned a path that was gone (ENOENT in test/robustness/durability.test.ts).
  if (builtPath !== null && !existsSync(builtPath)) built = builtPath = null;
  built ??= (async () => {
    const out = join(tempDir('optx-bin-'), 'hermes-optx-api');
    const proc = Bun.spawn(['bun', join(import.meta.dir, '../../scripts/build.ts'), '--outfile', out], { stdout: 'pipe', stderr: 'pipe' });
    if ((await proc.exited) !== 0) throw new Error(`build failed: ${await new Response(proc.stderr).text()}`);
    builtPath = out;
    return out;
  })();
  return built;
}

export interface RunningBinary {
  proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>;
  port: number;
  base: string;
  output: () => string;
}

/** Starts the binary on a free port; resolves once it has printed where it listens. */
export async function startBinary(binary: string, env: Record<string, string>, args: string[] = []): Promise<RunningBinary> {
  const proc = Bun.spawn([binary, '--port', '0', '--host', '127.0.0.1', ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let out = '';
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  const deadline = Date.now() + 15_000;
  let port = 0;
  while (!port && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += dec.decode(value);
    const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
    if (m) port = Number(m[1]);
  }
  reader.releaseLock();
  void proc.stdout.pipeTo(new WritableStream({ write: (c) => void (out += dec.decode(c)) }));
  if (!port) {
    proc.kill('SIGKILL');
    throw new Error(`binary did not say where it listens: ${out}${await new Response(proc.stderr).text()}`);
  }
  return { proc, port, base: `http://127.0.0.1:${port}`, output: () => out };
}

/** What a spawned server printed up to the end of its first line (its banner), or all it printed before exiting. */
export async function readFirstLine(stdout: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let out = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done || (out += decoder.decode(value, { stream: true })).includes('\n')) break;
  }
  reader.releaseLock();
  return out;
}

/** The URL a spawned server's banner says it listens on; throws with what it printed if it exits first. */
export async function readListeningUrl(stdout: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let out = '';
  try {
    for (;;) {
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) return url;
      const { value, done } = await reader.read();
      if (done) throw new Error(`the server did not start: ${out}`);
      out += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
}

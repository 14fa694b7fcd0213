/**
 * Writing to stdout/stderr without `process.stdout`/`process.stderr`: creating either loads Node's
 * stream and tty machinery, measured at ~15 ms of the executable's start-up (and again on the first
 * log line). Bun's native file sinks do the same job in ~0.5 ms. A write that would block is kept
 * by the sink and finished by the event loop; `flushStdio` waits for it before exiting.
 */
import { fstatSync } from 'node:fs';
import type { FileSink } from 'bun';

let out: FileSink | null = null;
let err: FileSink | null = null;

export function writeStdout(text: string): void {
  out ??= Bun.stdout.writer();
  out.write(text);
  void out.flush();
}

export function writeStderr(text: string): void {
  err ??= Bun.stderr.writer();
  err.write(text);
  void err.flush();
}

/** Waits until everything written has reached the file descriptors (before process.exit). */
export async function flushStdio(): Promise<void> {
  await Promise.all([out?.flush(), err?.flush()]);
}

/**
 * Whether stdout is a terminal, for the default log format. A terminal is a character device;
 * so is /dev/null, where the format does not matter. (`isatty` would load node:tty: ~8 ms.)
 */
export function stdoutIsTerminal(): boolean {
  try {
    return fstatSync(1).isCharacterDevice();
  } catch {
    return false;
  }
}

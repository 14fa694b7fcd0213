/**
 * Writing to stdout/stderr without `process.stdout`/`process.stderr`: creating either loads Node's
 * stream and tty machinery, measured at ~15 ms of the executable's start-up (and again on the first
 * log line). Bun's native file sinks do the same job in ~0.5 ms. A write that would block is kept
 * by the sink and finished by the event loop; `flushStdio` waits for it before exiting.
 *
 * A stream whose reader went away (`sidecar | head`, a log collector that died) must not stop the
 * server: the first failed write marks it closed and later output to it is dropped.
 */
import { fstatSync } from 'node:fs';
import type { FileSink } from 'bun';

function outputChannel(open: () => FileSink) {
  let sink: FileSink | null = null;
  let closed = false;
  const fail = () => {
    closed = true;
  };
  return {
    write(text: string): void {
      if (closed) return;
      try {
        sink ??= open();
        sink.write(text);
        const pending = sink.flush();
        if (pending instanceof Promise) pending.catch(fail);
      } catch {
        fail();
      }
    },
    async flush(): Promise<void> {
      if (!sink || closed) return;
      try {
        await sink.flush();
      } catch {
        fail();
      }
    },
  };
}

const stdout = outputChannel(() => Bun.stdout.writer());
const stderr = outputChannel(() => Bun.stderr.writer());

export const writeStdout = (text: string): void => stdout.write(text);
export const writeStderr = (text: string): void => stderr.write(text);

/** Waits until everything written has reached the file descriptors (before process.exit). */
export async function flushStdio(): Promise<void> {
  await Promise.all([stdout.flush(), stderr.flush()]);
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

/**
 * Writing to stdout/stderr without `process.stdout`/`process.stderr`: creating either loads Node's
 * stream and tty machinery, measured at ~15 ms of the executable's start-up (and again on the first
 * log line). Bun's native file sinks do the same job in ~0.5 ms.
 *
 * The reader of a stream is someone else's process, and it can stall (a log collector that hangs, a
 * terminal that was suspended) or go away (`sidecar | head`). Neither may stop or sink the server:
 * - a write the descriptor does not take at once is finished by the event loop; meanwhile further
 *   output waits in a queue of at most MAX_QUEUED_CHARS, and past that it is dropped and counted,
 *   and the count is written once the reader catches up, so memory stays bounded and the gap is seen;
 * - the first failed write (the reader is gone) marks the stream closed and later output is dropped;
 * - on exit, `flushStdio` waits for a stalled reader at most EXIT_FLUSH_MS.
 */
import { fstatSync } from 'node:fs';
import type { FileSink } from 'bun';

const MAX_QUEUED_CHARS = 1024 * 1024;
const EXIT_FLUSH_MS = 2000;

/** The part of Bun's FileSink a channel uses. */
export type Sink = Pick<FileSink, 'write' | 'flush'>;

export interface OutputChannel {
  write(text: string): void;
  /** Resolves when everything written has been taken by the descriptor, or after `deadlineMs`. */
  flush(deadlineMs?: number): Promise<void>;
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n || 1;
}

const droppedNote = (lines: number) =>
  `${JSON.stringify({ time: new Date().toISOString(), level: 'warn', msg: 'output dropped: the reader of this stream was not keeping up', lines })}\n`;

export function outputChannel(open: () => Sink, maxQueued = MAX_QUEUED_CHARS): OutputChannel {
  let sink: Sink | null = null;
  let closed = false;
  // Settles once the descriptor has taken the last write (null: nothing outstanding).
  let blocked: Promise<void> | null = null;
  let queued: string[] = [];
  let queuedChars = 0;
  let droppedLines = 0;
  const fail = () => {
    closed = true;
    blocked = null;
    queued = [];
    queuedChars = 0;
  };
  const send = (text: string) => {
    try {
      sink ??= open();
      sink.write(text);
      const pending = sink.flush();
      if (pending instanceof Promise) blocked = pending.then(resume, fail);
    } catch {
      fail();
    }
  };
  function resume(): void {
    blocked = null;
    if (closed) return;
    let text = queued.join('');
    queued = [];
    queuedChars = 0;
    if (droppedLines) text += droppedNote(droppedLines);
    droppedLines = 0;
    if (text) send(text);
  }
  return {
    write(text) {
      if (closed) return;
      if (!blocked) return send(text);
      if (queuedChars + text.length > maxQueued) {
        droppedLines += countLines(text);
        return;
      }
      queued.push(text);
      queuedChars += text.length;
    },
    async flush(deadlineMs = EXIT_FLUSH_MS) {
      let timedOut = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          resolve();
        }, deadlineMs);
      });
      while (blocked && !timedOut) await Promise.race([blocked, late]);
      clearTimeout(timer);
    },
  };
}

const stdout = outputChannel(() => Bun.stdout.writer());
const stderr = outputChannel(() => Bun.stderr.writer());

export const writeStdout = (text: string): void => stdout.write(text);
export const writeStderr = (text: string): void => stderr.write(text);

/** Waits until everything written has reached the file descriptors, or a stalled reader has had its time (before process.exit). */
export async function flushStdio(): Promise<void> {
  await Promise.all([stdout.flush(), stderr.flush()]);
}

/**
 * Whether stderr, where the logs go, is a terminal, for the default log format: stdout (the banner)
 * may be a terminal while stderr goes to a file a collector reads as JSON, or the other way round.
 * A terminal is a character device; so is /dev/null, where the format does not matter. (`isatty`
 * would load node:tty: ~8 ms.)
 */
export function stderrIsTerminal(): boolean {
  try {
    return fstatSync(2).isCharacterDevice();
  } catch {
    return false;
  }
}

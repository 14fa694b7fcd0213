/**
 * Structured logs: one line per event, JSON or a readable form. Field values whose key looks like a
 * secret are masked before anything is written, so a careless call cannot leak a key.
 */
import { writeStderr } from './stdio';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };
const SECRET_KEY = /(authorization|cookie|api[_-]?key|secret|token|password|private[_-]?key|credential)/i;

export function createLogger(opts: { level: LogLevel; format: 'pretty' | 'json'; write?: (line: string) => void }): Logger {
  const min = RANK[opts.level];
  const write = opts.write ?? stderrLines();
  const emit = (level: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const safe = fields ? maskSecrets(fields) : undefined;
    const time = new Date().toISOString();
    if (opts.format === 'json') {
      write(escapeUnsafe(JSON.stringify({ time, level, msg, ...safe })));
    } else {
      const rest = safe ? Object.entries(safe).map(([k, v]) => `${k}=${prettyValue(v)}`).join(' ') : '';
      write(escapePretty(`${time} ${level.toUpperCase().padEnd(5)} ${msg}${rest ? ' ' + rest : ''}`));
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/**
 * A value as logfmt writes it: bare when it is one plain word, else quoted and escaped. Values come
 * from clients and the upstream (a model name, an error message); a newline written as it is would
 * forge a log line of its own (`…\n2026-… ERROR …`), a space or `=` a field.
 */
function prettyValue(v: unknown): string {
  if (typeof v !== 'string') return JSON.stringify(v);
  return v !== '' && !/[\s"=\\\x00-\x1f]/.test(v) && !UNSAFE.test(v) ? v : JSON.stringify(v);
}

/**
 * Characters JSON.stringify leaves as they are but a reader must not get raw: C1 controls (U+009B is
 * CSI to xterm and VTE even in UTF-8, so `\u009b2J` clears the operator's screen), U+0085, U+2028 and
 * U+2029 (line breaks to Python's splitlines and some log viewers: one event read as two), and bidi
 * controls (U+202E shows the rest of a line reversed, hiding what it says). A model name, an
 * upstream's error text or a config.yaml value can carry them. Written as JSON's \u escapes (four hex digits), which
 * JSON reads back as the same string and a terminal shows as text.
 */
const UNSAFE = /[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

/**
 * In the pretty format C0 controls too: prettyValue quotes a value holding one, but the message and
 * the keys are written as they are, and a `\x1b[2J` or a newline in them reached the terminal raw.
 */
const UNSAFE_PRETTY = new RegExp(`[\\x00-\\x1f${UNSAFE.source.slice(1, -1)}]`);
const UNSAFE_PRETTY_ALL = new RegExp(UNSAFE_PRETTY.source, 'g');

const unicodeEscape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

function escapeUnsafe(line: string): string {
  return UNSAFE.test(line) ? line.replace(UNSAFE_ALL, unicodeEscape) : line;
}

/** A line of the pretty format (or one written like it: main.ts's start-up failure) safe for a terminal. */
export function escapePretty(line: string): string {
  return UNSAFE_PRETTY.test(line) ? line.replace(UNSAFE_PRETTY_ALL, unicodeEscape) : line;
}

export const silentLogger: Logger = createLogger({ level: 'silent', format: 'json', write: () => {} });

function maskSecrets(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] = SECRET_KEY.test(k) ? '***' : v && typeof v === 'object' && !Array.isArray(v) ? maskSecrets(v as LogFields) : v;
  }
  return out;
}

/**
 * Lines to stderr, gathered per event-loop turn into one write: under load one write per request
 * line was a measurable share of a request's cost. Whatever is pending is written on exit.
 */
function stderrLines(): (line: string) => void {
  let pending: string[] = [];
  const flush = () => {
    if (!pending.length) return;
    const text = pending.join('\n') + '\n';
    pending = [];
    writeStderr(text);
  };
  process.on('exit', flush);
  return (line) => {
    if (!pending.length) setImmediate(flush);
    pending.push(line);
  };
}

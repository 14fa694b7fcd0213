/**
 * A small `.env` reader: `KEY=value`, optional `export `, single/double quotes, `#` comments.
 * Used for the sidecar's own `.env` and for the agent's `$HERMES_HOME/.env`.
 */
import { readRegularFileSync } from './files';

const LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)?$/;

export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const m = LINE.exec(raw);
    if (!m) continue;
    const key = m[1] as string;
    let value = (m[2] ?? '').trim();
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote)) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      // An unquoted value ends at an inline comment preceded by whitespace.
      const hash = value.search(/\s#/);
      if (hash >= 0) value = value.slice(0, hash).trimEnd();
    }
    out[key] = value;
  }
  return out;
}

/** Reads a `.env` file; a missing file is an empty map, any other read error is thrown. */
export function readDotenv(path: string): Record<string, string> {
  try {
    return parseDotenv(readRegularFileSync(path).toString('utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}

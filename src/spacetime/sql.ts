/**
 * Writing values into SpacetimeDB SQL. The HTTP SQL endpoint takes no bind parameters, so every
 * value is written as a literal of the documented grammar (STRING = "'" { "''" | CHAR } "'"):
 * a string literal ends only at a lone quote, and every quote inside is doubled, so no value can
 * close the literal early and add SQL of its own.
 */
import { SpacetimeError } from './errors';

export type SqlValue = string | number | boolean;

// C0 controls other than tab/newline/carriage return, and lone UTF-16 surrogates: the first are
// never legitimate text in a key or category, the second cannot be sent as UTF-8 unchanged.
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function literal(value: SqlValue): string {
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return numberLiteral(value);
  if (typeof value !== 'string') throw new SpacetimeError('invalid_value', 'Only strings, numbers and booleans can be written as SQL literals.');
  if (FORBIDDEN_CHARS.test(value)) throw new SpacetimeError('invalid_value', 'The value contains control characters that cannot be used in a query.');
  return `'${value.replaceAll("'", "''")}'`;
}

function numberLiteral(n: number): string {
  if (!Number.isFinite(n)) throw new SpacetimeError('invalid_value', `${n} cannot be written as a SQL number.`);
  if (Object.is(n, -0)) return '0';
  const s = String(n);
  // The FLOAT grammar wants a '.' before an exponent ("1e-7" → "1.0e-7").
  return /e/i.test(s) && !s.includes('.') ? s.replace(/e/i, '.0e') : s;
}

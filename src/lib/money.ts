/**
 * Exact money: decimal strings ⇄ integer base units (bigint). Amounts are never summed as floats.
 */
const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

export class MoneyFormatError extends Error {
  override name = 'MoneyFormatError';
}

/** "1.5" with 6 decimals → 1500000n. More fractional digits than the token has is an error, not a rounding. */
export function toBaseUnits(amount: string | number, decimals = 6): bigint {
  const text = typeof amount === 'number' ? numberToPlain(amount) : amount.trim();
  const m = DECIMAL.exec(text);
  if (!m) throw new MoneyFormatError(`not a non-negative decimal amount: ${JSON.stringify(amount)}`);
  const whole = m[1] as string;
  const frac = m[2] ?? '';
  if (frac.replace(/0+$/, '').length > decimals) throw new MoneyFormatError(`more than ${decimals} decimal places: ${text}`);
  return BigInt(whole) * 10n ** BigInt(decimals) + BigInt((frac + '0'.repeat(decimals)).slice(0, decimals) || '0');
}

/** 1500000n with 6 decimals → "1.5"; trailing zeros trimmed, at least one digit before the point. */
export function fromBaseUnits(units: bigint, decimals = 6): string {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const base = 10n ** BigInt(decimals);
  const whole = abs / base;
  const frac = (abs % base).toString().padStart(decimals, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? '.' + frac : ''}`;
}

/**
 * A JSON number as plain decimal text, digit for digit as JavaScript spells it (its shortest
 * round-trip form), without the exponent: 1e-7 is then refused as too precise rather than misread,
 * and 1e-21 is not rounded to "0".
 */
function numberToPlain(n: number): string {
  if (!Number.isFinite(n) || n < 0) throw new MoneyFormatError(`not a non-negative finite amount: ${n}`);
  return plainDecimal(String(n)) as string;
}

/** Past this many places of exponent a literal is not spelled out: no amount has that many digits. */
const MAX_SHIFT = 1000;

/**
 * The digits of the number literal `source` (JSON's, or YAML's: `+1`, `.5`) when `value`, what the
 * parser made of it, does not give them back (its shortest spelling, as numberToPlain reads it, is
 * another number: a double holds 15–17 significant digits, so 9007199254740993 parses as …992 and
 * 1.0000000000000001 as 1), as plain decimal text; null when it does, or when `source` is no decimal
 * literal (YAML's `0x1F`, `.inf`) or too long to spell out. Money written as a number is read from
 * these, never from the rounded double.
 */
export function lostDigits(source: string, value: number): string | null {
  const exact = plainDecimal(source);
  return exact !== null && exact !== plainDecimal(String(value)) ? exact : null;
}

/** A decimal number literal (JSON's, YAML's, JavaScript's `1e+21`) as plain decimal text, trimmed of spare zeros; null if it is not one. */
function plainDecimal(literal: string): string | null {
  const m = /^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m || !/\d/.test(`${m[2]}${m[3] ?? ''}`)) return null;
  const [, sign, int = '', frac = '', exp = '0'] = m;
  const shift = Number(exp);
  if (Math.abs(shift) > MAX_SHIFT) return null;
  const digits = int + frac;
  const point = int.length + shift;
  const [whole, fraction] = point <= 0 ? ['0', '0'.repeat(-point) + digits]
    : point >= digits.length ? [digits + '0'.repeat(point - digits.length), '']
    : [digits.slice(0, point), digits.slice(point)];
  const trimmedFraction = fraction.replace(/0+$/, '');
  const text = whole.replace(/^0+(?=\d)/, '') + (trimmedFraction ? `.${trimmedFraction}` : '');
  return sign === '-' && /[1-9]/.test(text) ? `-${text}` : text;
}

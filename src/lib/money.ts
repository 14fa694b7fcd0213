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
  const [mantissa, exp] = String(n).split('e') as [string, string | undefined];
  if (exp === undefined) return mantissa;
  const [int, frac = ''] = mantissa.split('.') as [string, string | undefined];
  const digits = int + frac;
  const point = int.length + Number(exp);
  if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length);
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}

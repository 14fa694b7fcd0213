import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { readJsonBody } from '../src/lib/body';
import { fromBaseUnits, lostDigits, MoneyFormatError, toBaseUnits } from '../src/lib/money';

describe('money', () => {
  test('decimal strings and numbers to integer base units, exactly', () => {
    expect(toBaseUnits('0.10')).toBe(100_000n);
    expect(toBaseUnits('1.5', 6)).toBe(1_500_000n);
    expect(toBaseUnits('123456789.123456789', 9)).toBe(123_456_789_123_456_789n);
    expect(toBaseUnits(0.1)).toBe(100_000n);
    expect(toBaseUnits('2', 0)).toBe(2n);
    expect(toBaseUnits('1.500000000', 6)).toBe(1_500_000n);
  });

  test('ten thousand 0.1 additions are exactly 1000', () => {
    let sum = 0n;
    for (let i = 0; i < 10_000; i++) sum += toBaseUnits('0.1');
    expect(fromBaseUnits(sum)).toBe('1000');
  });

  test('too many decimals, negatives and junk are errors, not roundings', () => {
    for (const bad of ['0.0000001', '-1', 'abc', '1e3', '', '1.2.3', ' ']) expect(() => toBaseUnits(bad)).toThrow(MoneyFormatError);
    expect(() => toBaseUnits(Number.NaN)).toThrow(MoneyFormatError);
    expect(() => toBaseUnits(1e-7)).toThrow(MoneyFormatError);
    // Below every rounding of a fixed number of digits: refused, never read as 0.
    for (const tiny of [1e-21, 5e-324, 1.5e-9]) expect(() => toBaseUnits(tiny)).toThrow(MoneyFormatError);
  });

  test('JSON numbers in exponent form read digit for digit', () => {
    expect(toBaseUnits(1e21, 0)).toBe(10n ** 21n);
    expect(toBaseUnits(1.23e21, 0)).toBe(123n * 10n ** 19n);
    expect(toBaseUnits(1e-21, 21)).toBe(1n);
    expect(toBaseUnits(2.5e-6, 7)).toBe(25n);
    expect(toBaseUnits(123456.789, 3)).toBe(123456789n);
  });

  test('base units back to trimmed decimals', () => {
    expect(fromBaseUnits(100_000n)).toBe('0.1');
    expect(fromBaseUnits(0n)).toBe('0');
    expect(fromBaseUnits(1n)).toBe('0.000001');
    expect(fromBaseUnits(-2_500_000n)).toBe('-2.5');
    expect(fromBaseUnits(5n, 0)).toBe('5');
  });

  test('lostDigits: the digits of a JSON number literal the parsed double does not hold, else null', () => {
    const check = (source: string) => lostDigits(source, JSON.parse(source) as number);
    for (const exact of ['0.1', '12.50', '1e3', '1E+3', '2.5e-6', '-0', '0.000', '9007199254740992', '1e21', '5e-324']) expect([exact, check(exact)]).toEqual([exact, null]);
    expect(check('9007199254740993')).toBe('9007199254740993');
    expect(check('1.0000000000000001')).toBe('1.0000000000000001');
    expect(check('1.00000000000000001e2')).toBe('100.000000000000001');
    // Its shortest spelling gives these digits back: read from the double (as too precise for 6 decimals).
    expect(check('100.00000000000001')).toBeNull();
    expect(check('-12345678901234567890')).toBe('-12345678901234567890');
    expect(check('1e400')).toBe(`1${'0'.repeat(400)}`);
    // Too far to spell out (JSON.parse made it Infinity, which no money parser takes), or no decimal literal.
    expect(check('1e100000')).toBeNull();
    expect(lostDigits('0x1F', 31)).toBeNull();
    expect(lostDigits('+12345678901234567890', 12345678901234567890)).toBe('12345678901234567890');
    expect(lostDigits('.5', 0.5)).toBeNull();
  });
});

/**
 * The body reader's scan for the source text of top-level money fields (lib/body.ts), against
 * JSON.parse's own: its reviver sees each value's source text (JSC has it). Escaped and repeated keys,
 * the field nested or quoted inside strings, exponents, negative zero, whitespace, arrays and scalars.
 */
describe('money fields of a request body read from their digits', () => {
  const FIELDS = ['amount', 'reward'];
  function oracle(text: string): unknown {
    const sources = new WeakMap<object, Map<string, string>>();
    const value: unknown = JSON.parse(text, function (this: object, key: string, v: unknown, ctx?: { source?: string }) {
      if (ctx?.source !== undefined) sources.set(this, (sources.get(this) ?? new Map<string, string>()).set(key, ctx.source));
      return v;
    });
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const body = value as Record<string, unknown>;
    for (const f of FIELDS) {
      const source = sources.get(body)?.get(f);
      const exact = typeof body[f] === 'number' && source !== undefined ? lostDigits(source, body[f]) : null;
      if (exact !== null) body[f] = exact;
    }
    return body;
  }
  const ws = fc.constantFrom('', ' ', '\n', '\t', '\r\n ');
  const num = fc.oneof(
    fc.tuple(fc.constantFrom('', '-'), fc.stringMatching(/^(0|[1-9][0-9]{0,25})$/), fc.option(fc.stringMatching(/^[0-9]{1,25}$/)), fc.option(fc.stringMatching(/^[eE][+-]?[0-9]{1,4}$/)))
      .map(([sign, int, frac, exp]) => `${sign}${int}${frac === null ? '' : `.${frac}`}${exp ?? ''}`),
    fc.constantFrom('-0', '9007199254740993', '1.0000000000000001', '1e400', '-1e400', '1e-400', '1E+2', '-0.0', '0e0'),
  );
  const escaped = (name: string) => fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((esc) => `"${[...name].map((c, i) => (esc[i] ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c)).join('')}"`);
  const key = fc.oneof(fc.constantFrom('"amount"', '"reward"', '"amounts"', '"Amount"', '"a\\"mount"', '"amount\\\\"', '"x"'), escaped('amount'), escaped('reward'), fc.string().map((s) => JSON.stringify(s)));
  const str = fc.oneof(fc.string().map((s) => JSON.stringify(s)), fc.constantFrom('"\\"amount\\":3"', '"{\\"amount\\":5"', '"[\\\\"', '"}"', '"amount"'));
  const members = (value: fc.Arbitrary<string>, max: number) => fc.array(fc.tuple(ws, key, ws, ws, value, ws), { maxLength: max })
    .map((xs) => `{${xs.map(([a, k, b, c, v, d]) => `${a}${k}${b}:${c}${v}${d}`).join(',')}}`);
  const { value } = fc.letrec<{ value: string }>((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, num, str, fc.constantFrom('true', 'null'),
      fc.array(fc.tuple(ws, tie('value'), ws), { maxLength: 4 }).map((xs) => `[${xs.map((x) => x.join('')).join(',')}]`), members(tie('value'), 5)),
  }));
  const body = fc.tuple(ws, fc.oneof(value, members(value, 8)), ws).map((x) => x.join(''));

  test('the body reader gives what JSON.parse and its source text give', async () => {
    await fc.assert(fc.asyncProperty(body, async (text) => {
      const read = await readJsonBody(new Request('http://localhost/', { method: 'POST', body: text }), 1 << 20, FIELDS);
      expect(read).toEqual(oracle(text) as never);
    }), { numRuns: 5_000 });
  });
});

import { describe, expect, test } from 'bun:test';
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

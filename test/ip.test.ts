/**
 * src/lib/ip.ts stands in for node:net's isIP (whose module cost every idle sidecar ~0.7 MB of RSS):
 * it must answer exactly as node:net does, for addresses, near-misses and junk alike.
 */
import { describe, expect, test } from 'bun:test';
import { isIP as netIsIP } from 'node:net';
import fc from 'fast-check';
import { isIP } from '../src/lib/ip';

const CASES = [
  '1.2.3.4', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3.04', '1.2.3', '1.2.3.4.5', '0x1.2.3.4', ' 1.2.3.4', '1.2.3.4 ',
  '1.2.3.4\n', '1.2.3.4%eth0', '١.2.3.4', '::', '::1', '::ffff:1.2.3.4', '::1.2.3.4', '1::2::3', '[::1]', 'ABCD::', '12345::',
  'abcd:ef01:2345:6789:abcd:ef01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789:1', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4',
  '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', 'fe80::1%eth0', 'fe80::1%', 'fe80::1%eth 0', 'fe80::1%eth0%x', 'fe80::1%a.b:c-d', 'fe80::1%😀',
  '', 'localhost', 'example.com', '*', '127.1', '1.2.3.4/24', 'g::1', ':', ':::', '1:2:3:4:5:6:7:8:', '\u00001.2.3.4',
  // IPv4-mapped and upper case, leading zeros in the tail, a newline or tab after a zone id, full-width digits.
  '::FFFF:1.2.3.4', '::ffff:01.2.3.4', '::ffff:1.2.3.256', 'FE80::A%ETH0', 'fe80::1%eth0\n', 'fe80::1%\teth0', '1.2.3.4\t', '\uff11.2.3.4', '0000::1', '00000::1',
];

describe('isIP without node:net', () => {
  test('answers as node:net does on addresses, near-misses and junk', () => {
    expect(CASES.map((s): [string, number] => [s, isIP(s)])).toEqual(CASES.map((s): [string, number] => [s, netIsIP(s)]));
  });

  test('answers as node:net does on generated addresses, mangled addresses and strings of address characters', () => {
    const zone = fc.stringMatching(/^%[0-9a-zA-Z.:\- %]{0,6}$/);
    const address = fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.ipV6(), fc.tuple(fc.ipV6(), zone).map(([a, z]) => a + z));
    const mangled = fc.tuple(address, fc.nat(), fc.constantFrom('', '0', ':', '.', '::', 'f', '%', ' ', '1')).map(([a, at, put]) => {
      const i = at % (a.length + 1);
      return a.slice(0, i) + put + a.slice(i + (at % 2));
    });
    const chars = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFg:.%x- '), maxLength: 45 });
    fc.assert(fc.property(fc.oneof(address, mangled, chars, fc.string()), (s) => isIP(s) === netIsIP(s)), { numRuns: 20_000 });
  });
});

/**
 * Generators of malformed and hostile requests for any route of the OpenAPI document: bodies that
 * almost fit the route's JSON schema but for one bad field, wrong types, deep nesting, huge strings,
 * invalid UTF-8, path traversal, SQL and FTS metacharacters, absurd numbers.
 */
import fc from 'fast-check';

export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  default?: unknown;
};

export const HOSTILE_STRINGS = [
  '', ' ', '\u0000', 'kafka\u0000', 'a\u0000b', '../../../../etc/passwd', '..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f', '/etc/passwd', 'C:\\Windows\\win.ini',
  "' OR 1=1 --", "'; DROP TABLE tasks; --", '" OR ""="', 'NEAR(a b)', 'a AND OR NOT', '*', '"unterminated', 'col:value', '^start',
  "what's up-to", '😀🔥', '\u202Eevil', '\uFEFF', '\r\n\r\nHTTP/1.1 200 OK', '<script>alert(1)</script>', '${process.env}',
  '__proto__', 'constructor', 'prototype', 'x'.repeat(70_000), 'é'.repeat(5000), '\ud800', 'null', 'NaN', '-1', '1e309',
];

export const HOSTILE_NUMBERS = [-1, 0, -0, 1e308, -1e308, 2 ** 53 + 1, 0.1, 1.5, -2147483649, 4294967296, Number.MAX_SAFE_INTEGER];

const hostileString = fc.constantFrom(...HOSTILE_STRINGS);
const hostileNumber = fc.constantFrom(...HOSTILE_NUMBERS);

function deep(depth: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  hostileNumber,
  fc.constantFrom(null, true, false, [], {}, [[[]]], { __proto__: { polluted: true } }, deep(2000)),
  fc.jsonValue({ maxDepth: 4 }),
);

/** A plausible valid value for a schema (so mutations elsewhere get past the first check). */
function plausible(schema: JsonSchema | undefined): fc.Arbitrary<unknown> {
  if (!schema) return fc.jsonValue({ maxDepth: 2 });
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  const alt = schema.anyOf ?? schema.oneOf;
  if (alt?.length) return fc.oneof(...alt.map(plausible));
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'string':
      return fc.string({ minLength: Math.max(1, schema.minLength ?? 1), maxLength: Math.min(schema.maxLength ?? 24, 24) });
    case 'integer':
      return fc.integer({ min: Math.ceil(schema.minimum ?? 0), max: Math.floor(Math.min(schema.maximum ?? 100, 1e6)) });
    case 'number':
      return fc.double({ min: schema.minimum ?? 0, max: Math.min(schema.maximum ?? 100, 1e6), noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(plausible(schema.items), { maxLength: 3 });
    case 'object':
      return plausibleObject(schema);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function plausibleObject(schema: JsonSchema): fc.Arbitrary<Record<string, unknown>> {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, s] of Object.entries(props)) model[k] = plausible(s);
  return fc.record(model, { requiredKeys: [...required].filter((k) => k in props) });
}

/** A body that fits the schema except for one hostile change. */
export function hostileBody(schema: JsonSchema | undefined): fc.Arbitrary<unknown> {
  const props = Object.keys(schema?.properties ?? {});
  const base = schema ? plausible(schema) : fc.constant({});
  const oneBadField = props.length
    ? fc.tuple(base, fc.constantFrom(...props), wrongValue).map(([b, k, v]) => ({ ...(b as object), [k]: v }))
    : wrongValue;
  const missingRequired = schema?.required?.length
    ? fc.tuple(base, fc.constantFrom(...schema.required)).map(([b, k]) => {
        const copy = { ...(b as Record<string, unknown>) };
        delete copy[k];
        return copy;
      })
    : wrongValue;
  return fc.oneof(
    { weight: 5, arbitrary: oneBadField },
    { weight: 2, arbitrary: missingRequired },
    { weight: 2, arbitrary: wrongValue },
    { weight: 1, arbitrary: base.map((b) => ({ ...(b as object), extra_unknown_field: 'x'.repeat(10) })) },
  );
}

export type RawBody = { kind: 'json'; value: unknown } | { kind: 'bytes'; value: Uint8Array } | { kind: 'text'; value: string };

/** Bodies that are not JSON at all. */
export const rawGarbage: fc.Arbitrary<RawBody> = fc.oneof(
  fc.constantFrom(
    { kind: 'bytes' as const, value: new Uint8Array([0xff, 0xfe, 0x7b, 0x22, 0xc3, 0x28]) },
    { kind: 'bytes' as const, value: new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]) },
    { kind: 'text' as const, value: '{"a":' },
    { kind: 'text' as const, value: '{"a":1}{"b":2}' },
    { kind: 'text' as const, value: '[' .repeat(100_000) },
    { kind: 'text' as const, value: 'null' },
    { kind: 'text' as const, value: '\u0000' },
  ),
  fc.string({ maxLength: 50 }).map((value) => ({ kind: 'text' as const, value })),
);

/** A path parameter value: traversal, encodings, metacharacters, long ids. */
export const hostileSegment: fc.Arbitrary<string> = fc.oneof(
  hostileString.filter((s) => s.length > 0 && s.length < 5000),
  fc.constantFrom('..', '.', '%2e%2e', '..%2f..%2f', '%00', 'a%2Fb', "x' OR '1'='1", '0', '-1', '99999999999999999999'),
  fc.string({ minLength: 1, maxLength: 40 }),
);

export function encodeSegment(s: string): string {
  // Mostly encoded (as a client library would), sometimes raw-ish to test the router.
  return s === '..' || s === '.' ? s : encodeURIComponent(s.toWellFormed()).replace(/%25(2[eEfF]|00)/g, '%$1');
}

/** Query strings with hostile values for the documented parameters and some undocumented ones. */
export function hostileQuery(names: string[]): fc.Arbitrary<string> {
  const keys = names.length ? fc.constantFrom(...names, 'limit', 'offset', 'x[y]', '__proto__') : fc.constantFrom('limit', 'offset', '__proto__');
  const value = fc.oneof(hostileString.filter((s) => s.length < 3000), hostileNumber.map(String), fc.string({ maxLength: 20 }));
  return fc.array(fc.tuple(keys, value), { maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v.toWellFormed())}`).join('&'));
}

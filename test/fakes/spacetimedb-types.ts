/**
 * Column types of the fake SpacetimeDB and their SATS-JSON forms: the schema JSON of a SQL result,
 * the value JSON of a row (sums with numeric tags, as the real server writes untyped rows), the
 * reading of reducer arguments, and the typing of SQL literals against a column.
 */
import { SqlError, type Literal } from './spacetimedb-sql';

export type ScalarType = 'Bool' | 'U8' | 'U16' | 'U32' | 'U64' | 'I8' | 'I16' | 'I32' | 'I64' | 'F32' | 'F64' | 'String' | 'Timestamp';
export type ColumnType = ScalarType | `Option<${ScalarType}>`;

export interface Column {
  name: string;
  type: ColumnType;
}

const INT_RANGES: Partial<Record<ScalarType, [number, number]>> = {
  U8: [0, 255],
  U16: [0, 65535],
  U32: [0, 4294967295],
  U64: [0, Number.MAX_SAFE_INTEGER],
  I8: [-128, 127],
  I16: [-32768, 32767],
  I32: [-2147483648, 2147483647],
  I64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

const TIMESTAMP_FIELD = '__timestamp_micros_since_unix_epoch__';

export function optionInner(t: ColumnType): ScalarType | null {
  const m = /^Option<(.+)>$/.exec(t);
  return m ? (m[1] as ScalarType) : null;
}

const some = (name: string) => ({ some: name });

export function typeToWire(t: ColumnType): unknown {
  const inner = optionInner(t);
  if (inner) {
    return {
      Sum: {
        variants: [
          { name: some('some'), algebraic_type: typeToWire(inner) },
          { name: some('none'), algebraic_type: { Product: { elements: [] } } },
        ],
      },
    };
  }
  if (t === 'Timestamp') return { Product: { elements: [{ name: some(TIMESTAMP_FIELD), algebraic_type: { I64: [] } }] } };
  return { [t]: [] };
}

/** A stored JS value as the real server writes it in a SQL row. */
export function valueToWire(t: ColumnType, v: unknown): unknown {
  const inner = optionInner(t);
  if (inner) return v === null ? { '1': [] } : { '0': valueToWire(inner, v) };
  if (t === 'Timestamp') return [v];
  return v;
}

/** Why `v` cannot be stored in a column of type `t`, or null when it can. */
export function invalidValue(t: ColumnType, v: unknown): string | null {
  const inner = optionInner(t);
  if (inner) return v === null ? null : invalidValue(inner, v);
  if (t === 'String') return typeof v === 'string' ? null : `expected a string, got ${JSON.stringify(v)}`;
  if (t === 'Bool') return typeof v === 'boolean' ? null : `expected a bool, got ${JSON.stringify(v)}`;
  if (t === 'F32' || t === 'F64') return typeof v === 'number' && Number.isFinite(v) ? null : `expected a number, got ${JSON.stringify(v)}`;
  const range = t === 'Timestamp' ? INT_RANGES.I64 : INT_RANGES[t as ScalarType];
  if (!range || typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) return `expected ${t}, got ${JSON.stringify(v)}`;
  return null;
}

/** A reducer argument in SATS-JSON (Options as {"some": v}/{"none": []} or numeric tags) → JS value. */
export function argFromJson(t: ColumnType, json: unknown): unknown {
  const inner = optionInner(t);
  let value = json;
  if (inner) {
    const entries = json !== null && typeof json === 'object' && !Array.isArray(json) ? Object.entries(json) : [];
    const [tag, v] = entries[0] ?? [];
    if (entries.length !== 1) throw new Error(`expected {"some": value} or {"none": []} for ${t}, got ${JSON.stringify(json)}`);
    if (tag === 'none' || tag === '1') return null;
    if (tag !== 'some' && tag !== '0') throw new Error(`unknown variant "${tag}" for ${t}`);
    return argFromJson(inner, v);
  }
  if (t === 'Timestamp' && json !== null && typeof json === 'object') {
    value = Array.isArray(json) ? json[0] : (json as Record<string, unknown>)[TIMESTAMP_FIELD];
  }
  const why = invalidValue(t, value);
  if (why) throw new Error(why);
  return value;
}

/** Whether SQL comparison operators apply (crates/expr: scalars and Timestamp, not sums). */
export function comparable(t: ColumnType): boolean {
  return optionInner(t) === null;
}

/** Types a literal for a column, with the real server's InvalidLiteral wording on failure. */
export function literalValue(lit: Literal, t: ColumnType): unknown {
  const text = lit.lit === 'str' ? lit.value : lit.lit === 'num' ? lit.text : String(lit.value);
  const fail = () => new SqlError(`The literal expression \`${text}\` cannot be parsed as type \`${t}\``);
  if (t === 'String') {
    if (lit.lit !== 'str') throw fail();
    return lit.value;
  }
  if (t === 'Bool') {
    if (lit.lit !== 'bool') throw fail();
    return lit.value;
  }
  if (t === 'Timestamp' && lit.lit === 'str') {
    const ms = Date.parse(lit.value);
    if (Number.isNaN(ms) || !/^\d{4}-\d\d-\d\dT/.test(lit.value)) throw fail();
    return ms * 1000;
  }
  if (lit.lit !== 'num') throw fail();
  const n = Number(lit.text);
  if (t === 'F32' || t === 'F64') return n;
  if (invalidValue(t, n)) throw fail();
  return n;
}

/** UTF-16 code unit → a key that sorts in code point order (surrogates above U+E000..U+FFFF). */
const codePointKey = (u: number) => (u >= 0xd800 && u <= 0xdfff ? u + 0x2000 : u >= 0xe000 ? u - 0x800 : u);

/** Total order of stored values: Rust String order is by code point, not UTF-16 unit. */
export function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (typeof a === 'string' && typeof b === 'string') {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const x = a.charCodeAt(i);
      const y = b.charCodeAt(i);
      if (x !== y) return codePointKey(x) - codePointKey(y);
    }
    return a.length - b.length;
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return (a as number) - (b as number);
}

/**
 * Turns SATS-JSON rows into plain objects, guided by the schema the server sends with them.
 * SQL rows are serialised without type information, so sum values arrive with a numeric tag
 * (`{"0": v}` is `Some(v)`, `{"1": []}` is `None`); the variant name form (`{"some": v}`) that
 * typed values use is accepted too.
 */
import { SpacetimeError } from './errors';
import type { AlgebraicType, BuiltinType, NamedType } from './model';

/** Single-field products SATS uses to mark special types; they decode to the inner value. */
const WRAPPER_FIELDS = new Set([
  '__timestamp_micros_since_unix_epoch__',
  '__time_duration_micros__',
  '__identity__',
  '__connection_id__',
  '__uuid__',
]);

function bad(path: string, what: string): SpacetimeError {
  return new SpacetimeError('bad_response', `SpacetimeDB sent ${what} for ${path}.`);
}

/** Column name as the CLI shows it: the element name, or `column N` for an unnamed one. */
function columnName(element: NamedType, index: number): string {
  return element.name ?? `column ${index}`;
}

export function decodeRow(columns: NamedType[], row: unknown[]): Record<string, unknown> {
  if (row.length !== columns.length) throw bad('a row', `${row.length} values where the schema has ${columns.length} columns`);
  const out: Record<string, unknown> = {};
  columns.forEach((col, i) => {
    const name = columnName(col, i);
    out[name] = decodeValue(col.type, row[i], `column ${name}`);
  });
  return out;
}

function decodeValue(type: AlgebraicType, value: unknown, path: string): unknown {
  switch (type.kind) {
    case 'builtin':
      return decodeBuiltin(type.name, value, path);
    case 'array':
      // Byte arrays are serialised as one hex string.
      if (type.elem.kind === 'builtin' && type.elem.name === 'U8' && typeof value === 'string') return value;
      if (!Array.isArray(value)) throw bad(path, 'a non-array value for an array type');
      return value.map((v, i) => decodeValue(type.elem, v, `${path}[${i}]`));
    case 'product':
      return decodeProduct(type.elements, value, path);
    case 'sum':
      return decodeSum(type.variants, value, path);
    case 'ref':
      throw bad(path, `an unresolved type reference (${type.ref})`);
  }
}

function decodeBuiltin(name: BuiltinType, value: unknown, path: string): unknown {
  if (name === 'Bool') {
    if (typeof value !== 'boolean') throw bad(path, 'a non-boolean value for Bool');
    return value;
  }
  if (name === 'String') {
    if (typeof value !== 'string') throw bad(path, 'a non-string value for String');
    return value;
  }
  if (name === 'F32' || name === 'F64') {
    // serde_json writes NaN and infinities as null.
    if (value === null) return null;
    if (typeof value !== 'number') throw bad(path, `a non-number value for ${name}`);
    return value;
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) throw bad(path, `a non-integer value for ${name}`);
  // JSON.parse has already rounded a 64-bit value past 2^53; refuse rather than return a wrong id.
  if (!Number.isSafeInteger(value)) throw bad(path, `a ${name} too large to read exactly (${value})`);
  return value;
}

function decodeProduct(elements: NamedType[], value: unknown, path: string): unknown {
  let values: unknown[];
  if (Array.isArray(value)) {
    values = value;
  } else if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    values = elements.map((e) => (e.name !== null ? obj[e.name] : undefined));
  } else {
    throw bad(path, 'a scalar for a product type');
  }
  if (values.length !== elements.length) throw bad(path, `${values.length} fields where the type has ${elements.length}`);
  const only = elements[0];
  if (elements.length === 1 && only?.name && WRAPPER_FIELDS.has(only.name)) return decodeValue(only.type, values[0], path);
  const out: Record<string, unknown> = {};
  elements.forEach((e, i) => {
    const key = e.name ?? String(i);
    out[key] = decodeValue(e.type, values[i], `${path}.${key}`);
  });
  return out;
}

const isUnit = (t: AlgebraicType) => t.kind === 'product' && t.elements.length === 0;

function decodeSum(variants: NamedType[], value: unknown, path: string): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad(path, 'a non-object value for a sum type');
  const entries = Object.entries(value);
  const [entry] = entries;
  if (!entry || entries.length !== 1) throw bad(path, 'a sum value without exactly one tag');
  const [tag, inner] = entry;
  const index = /^\d+$/.test(tag) ? Number(tag) : variants.findIndex((v) => v.name === tag);
  const variant = variants[index];
  if (!variant) throw bad(path, `an unknown variant "${tag}"`);
  const isOption = variants.length === 2 && variants[0]?.name === 'some' && variants[1]?.name === 'none';
  if (isOption) return index === 0 ? decodeValue(variant.type, inner, path) : null;
  const name = variant.name ?? String(index);
  if (variants.every((v) => isUnit(v.type))) return name;
  return { [name]: decodeValue(variant.type, inner, `${path}.${name}`) };
}

/**
 * Zod schemas of SpacetimeDB's HTTP wire payloads (SATS-JSON), and the parsed type tree the row
 * decoder walks. See docs/spacetimedb.md for where each shape was verified.
 */
import { z } from '../lib/zod';

const BUILTIN_TYPES = [
  'Bool',
  'I8',
  'U8',
  'I16',
  'U16',
  'I32',
  'U32',
  'I64',
  'U64',
  'I128',
  'U128',
  'I256',
  'U256',
  'F32',
  'F64',
  'String',
] as const;
export type BuiltinType = (typeof BUILTIN_TYPES)[number];

export interface NamedType {
  /** Field or variant name; null when the element is unnamed. */
  name: string | null;
  type: AlgebraicType;
}

/** A SATS `AlgebraicType`, normalised from its JSON form (`{"U64": []}`, `{"Sum": {...}}`, …). */
export type AlgebraicType =
  | { kind: 'builtin'; name: BuiltinType }
  | { kind: 'product'; elements: NamedType[] }
  | { kind: 'sum'; variants: NamedType[] }
  | { kind: 'array'; elem: AlgebraicType }
  | { kind: 'ref'; ref: number };

/** `Option<String>` of a typed Rust value: `{"some": "x"}` or `{"none": []}`. */
const SatsName = z.pipe(
  z.union([z.strictObject({ some: z.string() }), z.strictObject({ none: z.tuple([]) })]),
  z.transform((n) => ('some' in n ? n.some : null)),
);

const Element: z.ZodMiniType<NamedType, unknown> = z.lazy(() =>
  z.pipe(z.object({ name: SatsName, algebraic_type: AlgebraicTypeWire }), z.transform((e) => ({ name: e.name, type: e.algebraic_type }))),
);

const AlgebraicTypeWire: z.ZodMiniType<AlgebraicType, unknown> = z.lazy(() =>
  z.union([
    z.pipe(z.strictObject({ Product: z.object({ elements: z.array(Element) }) }), z.transform((t) => ({ kind: 'product' as const, elements: t.Product.elements }))),
    z.pipe(z.strictObject({ Sum: z.object({ variants: z.array(Element) }) }), z.transform((t) => ({ kind: 'sum' as const, variants: t.Sum.variants }))),
    z.pipe(z.strictObject({ Array: AlgebraicTypeWire }), z.transform((t) => ({ kind: 'array' as const, elem: t.Array }))),
    z.pipe(z.strictObject({ Ref: z.number().check(z.int(), z.nonnegative()) }), z.transform((t) => ({ kind: 'ref' as const, ref: t.Ref }))),
    z.pipe(
      z.partialRecord(z.enum(BUILTIN_TYPES), z.tuple([])).check(z.refine((r) => Object.keys(r).length === 1, { error: 'expected exactly one type tag' })),
      z.transform((r) => ({ kind: 'builtin' as const, name: Object.keys(r)[0] as BuiltinType })),
    ),
  ]),
);

const ProductTypeWire = z.object({ elements: z.array(Element) });

/** One element of the JSON array answered by `POST /v1/database/:db/sql`. */
export const SqlStmtResultWire = z.looseObject({
  schema: ProductTypeWire,
  rows: z.array(z.array(z.unknown())),
  total_duration_micros: z.number().check(z.nonnegative()),
  stats: z.optional(z.looseObject({ rows_inserted: z.number(), rows_deleted: z.number(), rows_updated: z.number() })),
});
export type SqlStmtResult = z.infer<typeof SqlStmtResultWire>;

export const SqlResponseWire = z.array(SqlStmtResultWire);

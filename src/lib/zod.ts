/**
 * The zod every module uses: the functional `zod/mini` API. Its schemas are built with fewer
 * intermediate clones than classic method chains (`.check(a, b, c)` is one schema, `.min().max()`
 * two), and the classic API is left out of the executable: start-up is shorter and idle RSS lower.
 * Import `z` from here, never from 'zod', which would bring the classic API back.
 *
 * Mini loads no locale by itself, so every issue message would read "Invalid input"; English (the
 * messages the 422 bodies carry) is registered here, before any schema can be used.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { toUtcIso } from './time';

z.config(en());

export { z };

/**
 * The JSON Schema a query parameter is documented with where its zod input (a string) would not tell
 * what the server accepts: `queryInt` records its range here for the OpenAPI document.
 */
export const queryDocs = z.registry<{ type: 'integer'; minimum: number; maximum: number }>();

/** A JSON Schema of the OpenAPI document, made by the document's own generator (docs/service.ts). */
export type DocSchema = Record<string, unknown>;

/**
 * How a `z.custom` schema (api-schemas.ts: ownRecord, asSent) is documented, keyed by its check function,
 * which every copy `.check()` makes keeps. Worked out only when the OpenAPI document is: zod's JSON
 * Schema generation, run for each such schema as it was defined, cost start-up ~0.9 MB of idle RSS.
 */
export const customDocs = new WeakMap<object, (toJson: (s: z.ZodMiniType) => DocSchema) => DocSchema>();

/**
 * A whole-number query parameter (`?limit=20`); wrap it in `z._default` or `z.optional`. Text, signs,
 * fractions, exponents and an out-of-range number all fail with one message naming the range,
 * rather than zod's "received NaN" (a repeated parameter is refused before, in app.ts).
 */
export function queryInt(min: number, max: number) {
  const error = `expected an integer from ${min} to ${max}`;
  const digits = z.pipe(z.string({ error }).check(z.regex(/^\d{1,16}$/, { error })), z.transform(Number));
  const int = z.pipe(digits, z.number().check(z.gte(min, { error }), z.lte(max, { error })));
  queryDocs.add(int, { type: 'integer', minimum: min, maximum: max });
  return int;
}

/**
 * Text without lone UTF-16 surrogates (half an emoji): UTF-8 cannot hold one, so SQLite would store
 * U+FFFD and a URL cannot carry it. `error` is the message the field's 422 gives.
 */
export const wellFormed = (error = 'must be valid Unicode text (no lone surrogates)') => z.refine<string>((s) => s.isWellFormed(), { error });

/**
 * Free JSON a client sends to be kept (memory metadata, a task's result, a config.yaml value) holds only finite numbers.
 * JSON.parse reads a number past a double's range (1e400) as Infinity, which JSON.stringify then
 * writes as null: kept as it came, the value would change without a word. The body is already parsed
 * and at most 128 levels deep (lib/body.ts), so one walk of it is enough.
 */
export const finiteNumbers = (what?: string) =>
  z.refine<unknown>((v) => allFinite(v), { error: `${what ? `${what} ` : ''}numbers must be finite (a double holds at most ±1.7976931348623157e308)` });

function allFinite(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  if (v === null || typeof v !== 'object') return true;
  for (const x of Array.isArray(v) ? v : Object.values(v)) if (!allFinite(x)) return false;
  return true;
}

/** A client's date or date-time, as `toUtcIso` reads it (days that do not exist are refused). */
export const ClientTime = z.string().check(z.refine((s) => {
  try {
    toUtcIso(s);
    return true;
  } catch {
    return false;
  }
}, { error: 'expected an ISO 8601 date or date-time, e.g. 2026-11-29 or 2026-11-29T13:07:33Z' }));

/**
 * Schemas every module shares: the two error envelopes of SPEC §4 (`lib/errors.ts` writes them), the
 * MPP problem-details body, counts per name, objects passed on as they are, and the description of an event-stream answer. The OpenAPI document
 * holds each envelope once, as a component, and refers to it from every error response.
 */
import { customDocs, z } from './zod';

export const FieldError = z.object({ path: z.string(), message: z.string() });
export type FieldError = z.infer<typeof FieldError>;

/**
 * `{detail, code, errors?}` of every error under /api and /health. Some errors add fields of their
 * own (a task's `status`, an escrow's `status`, …): the body is open, and a route documents its
 * additions with `errorBodyWith`.
 */
export const ErrorBody = z.looseObject({
  detail: z.string().check(z.describe('One readable sentence')),
  code: z.string().check(z.describe('snake_case error code')),
  errors: z.optional(z.array(FieldError).check(z.describe('Each invalid field of a 422'))),
});

/** The error body of a route that adds fields to the shared one. */
export const errorBodyWith = <T extends z.core.$ZodLooseShape>(extra: T) => z.extend(ErrorBody, extra);

/** An object that is not an array or null: the first step of every shape checked by hand. */
export const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const isCounts = (v: unknown): boolean => isPlainObject(v) && Object.values(v).every((n) => Number.isSafeInteger(n) && (n as number) >= 0);

/**
 * `{name: value}` whose names are a client's or a file's (escrow tokens, frontmatter keys, .env names),
 * each value checked by `value` and the object passed on as it is: `z.record` rebuilds its output by
 * assignment, which drops a key named `__proto__` without a word (it sets the prototype instead). The
 * output is the input, so `value` must not transform; the OpenAPI document still shows a map of `value`.
 */
export function ownRecord<T extends z.ZodMiniType>(value: T, error: string) {
  const valid = (v: unknown) => isPlainObject(v) && Object.values(v).every((item) => z.safeParse(value, item).success);
  customDocs.set(valid, (toJson) => ({ type: 'object', additionalProperties: toJson(value) }));
  return z.custom<Record<string, z.output<T>>>(valid, { error });
}

/**
 * `schema`'s checks (and 422 paths), the value passed on exactly as sent: zod's object schemas rebuild
 * their output by assignment, which drops a key named `__proto__`, and a body the sidecar forwards must
 * reach the upstream as the client wrote it. Only for schemas that neither transform nor default.
 */
export function asSent<T extends z.ZodMiniType>(schema: T) {
  const any = () => true;
  customDocs.set(any, (toJson) => toJson(schema));
  return z.custom<z.output<T>>(any).check(
    z.superRefine((value, ctx) => {
      const checked = z.safeParse(schema, value);
      if (!checked.success) for (const { message, path } of checked.error.issues) ctx.addIssue({ code: 'custom', message, path, input: value });
    }),
  );
}

/** A JSON object of the client's (memory metadata), checked but passed on as it is (ownRecord). */
export const JsonObject = ownRecord(z.unknown(), 'expected a JSON object');

/**
 * `{name: count}` (memory stats' `categories`, tasks' `in_progress_by_agent`), checked but passed on as it
 * is: the names are the clients', and `z.record` rebuilds its output by assignment, which drops a key
 * named `__proto__` (a category or agent of that name was missing from the counts).
 */
export const Counts = z
  .custom<Record<string, number>>(isCounts, { error: 'expected an object of counts' })
  .check(z.meta({ type: 'object', additionalProperties: { type: 'integer', minimum: 0 } } as Record<string, unknown>));

/** The OpenAI error envelope of /v1/* and /api/chat/completions/stream. */
export const OpenAIErrorBody = z.object({
  error: z.object({ message: z.string(), type: z.string(), code: z.nullable(z.string()), param: z.nullable(z.string()) }),
});

/** The problem-details body (RFC 9457, `application/problem+json`) of an MPP 402 challenge. */
export const PaymentProblem = z.looseObject({
  type: z.string(),
  title: z.string(),
  status: z.number().check(z.int()),
  detail: z.string(),
  code: z.string(),
  hint: z.optional(z.string().check(z.describe('How to pay (an RFC 9457 extension member of mppx)'))),
  challengeId: z.optional(z.string().check(z.describe('The id of the challenge in WWW-Authenticate'))),
});

/** An OpenAPI response of `text/event-stream`, its frames described in words (JSON Schema cannot). */
export const sseResponse = (description: string) => ({
  description,
  content: { 'text/event-stream': { schema: { type: 'string' as const, description } } },
});

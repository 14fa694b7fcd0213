/**
 * Schemas every module shares: the two error envelopes of SPEC §4 (`lib/errors.ts` writes them), the
 * MPP problem-details body, and the description of an event-stream answer. The OpenAPI document
 * holds each envelope once, as a component, and refers to it from every error response.
 */
import { z } from './zod';

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

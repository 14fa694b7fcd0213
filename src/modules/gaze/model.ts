import { wellFormed, z } from '../../lib/zod';

/**
 * A gaze session id as the task claim and the escrow release take it. It goes into AARON's URL, where a
 * lone surrogate cannot be encoded: refused here as bad input rather than failing the call to AARON.
 */
export const GazeSessionId = z.string().check(z.minLength(1), z.maxLength(256), wellFormed('expected well-formed Unicode text'));

/**
 * What AARON answers for a gaze session; loose, since it may add fields. `status` and `verified` are
 * read as they come (`null`, a number): only `status:"verified"` or `verified:true` counts, and any
 * other value is a session that is not verified, not an unreadable answer.
 */
export const AaronSession = z.looseObject({
  status: z.optional(z.unknown()),
  verified: z.optional(z.unknown()),
  /** ISO 8601, or epoch seconds/milliseconds. */
  verified_at: z.optional(z.nullable(z.union([z.string(), z.number()]))),
});
export type AaronSession = z.infer<typeof AaronSession>;

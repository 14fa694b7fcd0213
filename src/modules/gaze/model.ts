import { z } from '../../lib/zod';

/** What AARON answers for a gaze session; loose, since it may add fields. */
export const AaronSession = z.looseObject({
  status: z.optional(z.string()),
  verified: z.optional(z.boolean()),
  /** ISO 8601, or epoch seconds/milliseconds. */
  verified_at: z.optional(z.nullable(z.union([z.string(), z.number()]))),
});
export type AaronSession = z.infer<typeof AaronSession>;

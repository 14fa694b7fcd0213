import { z } from 'zod';

/** What AARON answers for a gaze session; loose, since it may add fields. */
export const AaronSession = z.looseObject({
  status: z.string().optional(),
  verified: z.boolean().optional(),
  /** ISO 8601, or epoch seconds/milliseconds. */
  verified_at: z.union([z.string(), z.number()]).nullable().optional(),
});
export type AaronSession = z.infer<typeof AaronSession>;

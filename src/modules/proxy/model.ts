import { z } from '../../lib/zod';

/** The body of an OpenAI chat completion request; only what the sidecar needs is checked, the rest passes through. */
export const ChatCompletionsBody = z.looseObject({
  model: z.optional(z.string()),
  messages: z.array(z.looseObject({ role: z.string().check(z.minLength(1)) })).check(z.minLength(1)),
  stream_options: z.optional(z.looseObject({})),
});
export type ChatCompletionsBody = z.infer<typeof ChatCompletionsBody>;

export const OpenAIError = z.object({
  error: z.object({ message: z.string(), type: z.string(), code: z.nullable(z.string()), param: z.nullable(z.string()) }),
});

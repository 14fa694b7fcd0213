import { z } from 'zod';

/** The body of an OpenAI chat completion request; only what the sidecar needs is checked, the rest passes through. */
export const ChatCompletionsBody = z.looseObject({
  model: z.string().optional(),
  messages: z.array(z.looseObject({ role: z.string().min(1) })).min(1),
  stream_options: z.looseObject({}).optional(),
});
export type ChatCompletionsBody = z.infer<typeof ChatCompletionsBody>;

export const OpenAIError = z.object({
  error: z.object({ message: z.string(), type: z.string(), code: z.string().nullable(), param: z.string().nullable() }),
});

import { asSent } from '../../lib/api-schemas';
import { z } from '../../lib/zod';

/**
 * The body of an OpenAI chat completion request; only what the sidecar needs is checked, the rest passes
 * through as sent (asSent: a key `__proto__` too). `stream_options` may be null, as OpenAI allows (null means absent); so may every
 * other field OpenAI documents as nullable (`temperature`, `max_tokens`, `tools`, …), which are not
 * checked here. `model` is not nullable in OpenAI's API either.
 */
export const ChatCompletionsBody = asSent(z.looseObject({
  model: z.optional(z.string()),
  messages: z.array(z.looseObject({ role: z.string().check(z.minLength(1)) })).check(z.minLength(1)),
  stream_options: z.nullish(z.looseObject({})),
}));
export type ChatCompletionsBody = z.infer<typeof ChatCompletionsBody>;


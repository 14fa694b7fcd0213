/**
 * The message `content` of an OpenAI-compatible chat completion, as HEDGEHOG endpoints answer it: a
 * string, or (OpenAI's newer shape, Mistral, some gateways) a list of parts of which only the `text`
 * ones are the answer — a `thinking` part holds the model's drafts.
 */
import { z } from '../lib/zod';

const ContentPart = z.looseObject({ type: z.optional(z.string()), text: z.optional(z.unknown()) });

export const MessageContent = z.union([z.string(), z.array(ContentPart)]);

/** The answer's text: the string, or the text parts joined; null for a list without a text part. */
export function answerText(content: z.output<typeof MessageContent>): string | null {
  if (typeof content === 'string') return content;
  const texts = content.flatMap((p) => ((p.type ?? 'text') === 'text' && typeof p.text === 'string' ? [p.text] : []));
  return texts.length ? texts.join('') : null;
}

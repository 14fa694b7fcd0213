import { z } from 'zod';
import { NewSessionId } from '../sessions/model';

/**
 * An attachment sent with a message. Images (`url`, or base64 `data` with a `mime_type`) become image
 * parts of the message; `text` becomes a text part; anything else is named in a text part.
 */
export const Attachment = z.object({
  type: z.string().max(64).optional(),
  name: z.string().max(512).optional(),
  mime_type: z.string().max(128).optional(),
  url: z.string().max(8192).optional(),
  data: z.string().optional(),
  text: z.string().optional(),
});
export type Attachment = z.infer<typeof Attachment>;

const nonEmpty = z.string().refine((s) => s.trim().length > 0, { error: 'must not be empty' });

export const ChatBody = z.object({
  message: nonEmpty,
  model: z.string().trim().min(1).max(256).optional(),
  system_message: z.string().optional(),
  temperature: z.number().min(0).max(2).optional(),
  max_tokens: z.number().int().positive().optional(),
  attachments: z.array(Attachment).max(32).optional(),
});
export type ChatBody = z.infer<typeof ChatBody>;

export const NewChatBody = ChatBody.extend({
  session_id: NewSessionId.optional(),
  title: z.string().trim().min(1).max(256).optional(),
});
export type NewChatBody = z.infer<typeof NewChatBody>;

export const StreamFormat = z.enum(['optx', 'hermes']);
export type StreamFormat = z.infer<typeof StreamFormat>;

export const StreamQuery = z.object({ format: StreamFormat.optional() });

export const Usage = z.object({ input_tokens: z.number().int(), output_tokens: z.number().int(), total_tokens: z.number().int() });
export type Usage = z.infer<typeof Usage>;

export const ChatReply = z.object({
  session_id: z.string(),
  run_id: z.string().optional(),
  message: z.object({ role: z.literal('assistant'), content: z.string() }),
  usage: Usage.nullable(),
});
export type ChatReply = z.infer<typeof ChatReply>;

export type UpstreamPath = 'session-api' | 'chat-completions';

/** An event of Hermes' own session stream, kept as it came so the hermes format can pass it through. */
export interface NativeFrame {
  event: string;
  /** The JSON payload as the upstream wrote it (one line). */
  data: string;
  runId?: string;
  seq?: number;
}

/**
 * The one internal stream of a chat turn. Adapters (one per upstream protocol) produce it, renderers
 * (one per client format) consume it. `native` is set on events that came from Hermes' session stream.
 */
export type ChatEvent =
  | { type: 'started'; sessionId: string; created: boolean; upstream: UpstreamPath }
  | { type: 'delta'; text: string; native?: NativeFrame }
  | { type: 'tool'; name: string; status: 'started' | 'completed' | 'failed'; preview?: string; native?: NativeFrame }
  | { type: 'reasoning'; text: string; native?: NativeFrame }
  | { type: 'completed'; text: string; reasoning: string | null; usage: Usage | null; native?: NativeFrame }
  | { type: 'failed'; code: string; message: string; status: number; native?: NativeFrame }
  /** A native event with no meaning for the optx envelope (message.started, done, …). */
  | { type: 'native'; native: NativeFrame };

/** Turns the ChatEvents of one turn into the SSE frames of one client format ('' when an event has none). */
export interface Renderer {
  render(ev: ChatEvent): string;
}

import { wellFormed, z } from '../../lib/zod';
import { NewSessionId, SessionModel, SessionTitle } from '../sessions/model';

// Well-formed, as the message is (below): the turn kept a part's text with half an emoji, and the session's
// preview carried it as a lone `\ud83d`, which strict JSON decoders refuse (the whole list with it).
const AttachmentFields = z.object({
  type: z.optional(z.string().check(z.maxLength(64), wellFormed())),
  name: z.optional(z.string().check(z.maxLength(512), wellFormed())),
  mime_type: z.optional(z.string().check(z.maxLength(128), wellFormed())),
  url: z.optional(z.string().check(z.maxLength(8192), wellFormed())),
  data: z.optional(z.string().check(wellFormed())),
  text: z.optional(z.string().check(wellFormed())),
});

/** An attachment sent as an image part (`type: "image"`, or an image media type). */
export const isImageAttachment = (a: z.infer<typeof AttachmentFields>): boolean =>
  a.type === 'image' || (a.mime_type?.toLowerCase().startsWith('image/') ?? false);

/**
 * The gateway refuses an image part whose URL is neither http(s) nor `data:image/...,` (400
 * invalid_image_url / unsupported_content_type), after the sidecar has already opened the turn.
 */
const IMAGE_URL = /^\s*(?:https?:\/\/|data:image\/[^,]*,)/i;

/**
 * An attachment sent with a message. Images (`url`, or base64 `data` with a `mime_type`) become image
 * parts of the message; `text` becomes a text part; anything else is named in a text part.
 */
export const Attachment = AttachmentFields.check(
  // An empty url is no url (upstream.ts sends the data then), as clients that send every field write it.
  z.refine((a) => !isImageAttachment(a) || !a.url || IMAGE_URL.test(a.url), {
    error: 'an image url must be http(s):// or data:image/...',
  }),
  z.refine((a) => !isImageAttachment(a) || !!a.url || a.data === undefined || /^image\//i.test(a.mime_type ?? 'image/png'), {
    error: 'image data needs an image/* mime_type',
  }),
);
export type Attachment = z.infer<typeof Attachment>;

/** Well-formed too: the turn is kept in SQLite (UTF-8), where half an emoji became U+FFFD, and was sent so next turn. */
const nonEmpty = z.string().check(z.refine((s) => s.trim().length > 0, { error: 'must not be empty' }), wellFormed());

export const ChatBody = z.object({
  message: nonEmpty,
  model: z.optional(SessionModel),
  system_message: z.optional(z.string()),
  temperature: z.optional(z.number().check(z.gte(0), z.lte(2))),
  max_tokens: z.optional(z.number().check(z.int(), z.positive())),
  attachments: z.optional(z.array(Attachment).check(z.maxLength(32))),
});
export type ChatBody = z.infer<typeof ChatBody>;

export const NewChatBody = z.extend(ChatBody, {
  session_id: z.optional(NewSessionId),
  title: z.optional(SessionTitle),
});
export type NewChatBody = z.infer<typeof NewChatBody>;

export const StreamFormat = z.enum(['optx', 'hermes']);
export type StreamFormat = z.infer<typeof StreamFormat>;

/**
 * `format=` sent empty is the server's default (CHAT_STREAM_FORMAT), as on every read: these POSTs do
 * not write their query, so the rule that keeps an empty value on a write does not apply.
 */
export const StreamQuery = z.object({ format: z.optional(z.union([StreamFormat, z.literal('')], { error: 'expected optx or hermes' })) });

export const Usage = z.object({ input_tokens: z.number().check(z.int()), output_tokens: z.number().check(z.int()), total_tokens: z.number().check(z.int()) });
export type Usage = z.infer<typeof Usage>;

export const ChatReply = z.object({
  session_id: z.string(),
  run_id: z.optional(z.string()),
  message: z.object({ role: z.literal('assistant'), content: z.string() }),
  usage: z.nullable(Usage),
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
  /**
   * `fromCompleted`: text the upstream sent only in its final message (`assistant.completed`), not as
   * deltas; a format that passes the upstream's own events on already carries it there.
   */
  | { type: 'delta'; text: string; native?: NativeFrame; fromCompleted?: true }
  | { type: 'tool'; name: string; status: 'started' | 'completed' | 'failed'; preview?: string; native?: NativeFrame }
  | { type: 'reasoning'; text: string; native?: NativeFrame }
  | { type: 'completed'; text: string; reasoning: string | null; usage: Usage | null; native?: NativeFrame }
  /**
   * `own`: the sidecar's own failure (its storage, the agent's state.db, the session deleted), which the
   * non-streaming route answers with this status and `headers` (Retry-After) rather than as a bad gateway.
   */
  | { type: 'failed'; code: string; message: string; status: number; native?: NativeFrame; own?: true; headers?: Record<string, string> }
  /** A native event with no meaning for the optx envelope (message.started, done, …). */
  | { type: 'native'; native: NativeFrame };

/** Turns the ChatEvents of one turn into the SSE frames of one client format ('' when an event has none). */
export interface Renderer {
  render(ev: ChatEvent): string;
  /** Frames owed after the turn's last event (its format's closing event, when the upstream left it out). */
  end(): string;
}

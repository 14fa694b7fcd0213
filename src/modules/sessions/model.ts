import { queryInt, wellFormed, z } from '../../lib/zod';
import { SAFE_ID, SAFE_ID_RULE } from '../../lib/ids';

/** Where the row shown for a session comes from (the first source that has it, in this order). */
export const SessionOrigin = z.enum(['state-db', 'upstream', 'sidecar']);
export type SessionOrigin = z.infer<typeof SessionOrigin>;

export const Session = z.object({
  id: z.string(),
  title: z.nullable(z.string()),
  model: z.nullable(z.string()),
  /** Hermes' platform tag (`cli`, `telegram`, `api_server`, …); `optx-api` for sessions only the sidecar has. */
  source: z.nullable(z.string()),
  origin: SessionOrigin,
  /** Epoch seconds, as Hermes writes them. */
  started_at: z.nullable(z.number()),
  ended_at: z.nullable(z.number()),
  last_active: z.nullable(z.number()),
  message_count: z.number().check(z.int()),
  tool_call_count: z.number().check(z.int()),
  input_tokens: z.number().check(z.int()),
  output_tokens: z.number().check(z.int()),
  preview: z.nullable(z.string()),
});
export type Session = z.infer<typeof Session>;

export const Message = z.object({
  id: z.union([z.number(), z.string()]),
  session_id: z.string(),
  role: z.string(),
  /** Text, or the decoded parts of a multimodal message. */
  content: z.unknown(),
  tool_calls: z.nullable(z.array(z.unknown())),
  tool_call_id: z.nullable(z.string()),
  tool_name: z.nullable(z.string()),
  timestamp: z.nullable(z.number()),
  reasoning: z.nullable(z.string()),
});
export type Message = z.infer<typeof Message>;

/** The source value of sessions that exist only in the sidecar's transcript store. */
export const SIDECAR_SOURCE = 'optx-api';

export const ListSessionsQuery = z.object({
  limit: z._default(queryInt(1, 500), 50),
  offset: z._default(queryInt(0, 1_000_000_000), 0),
  source: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(64))),
});
export type ListSessionsQuery = z.infer<typeof ListSessionsQuery>;

export const ListMessagesQuery = z.object({
  limit: z._default(queryInt(1, 1000), 100),
  offset: z._default(queryInt(0, 1_000_000_000), 0),
});
export type ListMessagesQuery = z.infer<typeof ListMessagesQuery>;

/** Ids a client may choose; `new` is the static route `/api/sessions/new/…`. */
export const NewSessionId = z.string().check(z.regex(SAFE_ID, { error: `expected ${SAFE_ID_RULE}` }), z.refine((id) => id !== 'new', { error: '"new" is reserved' }));

// Well-formed (wellFormed): half an emoji cannot be stored (SQLite keeps UTF-8); it came back as U+FFFD, the text changed without a word.
/** A model name a session is created with (a chat turn's `model` too: a new session takes it). */
export const SessionModel = z.string().check(z.trim(), z.minLength(1), z.maxLength(256), wellFormed());

export const SessionTitle = z.string().check(z.trim(), z.minLength(1, { error: 'must not be empty' }), z.maxLength(256), wellFormed());

/** An empty body is a session with a new id. */
export const CreateSessionBody = z._default(z.object({
  id: z.optional(NewSessionId),
  title: z.optional(SessionTitle),
  model: z.optional(SessionModel),
}), {});
export type CreateSessionBody = z.infer<typeof CreateSessionBody>;

export const PatchSessionBody = z.object({
  /** null clears the title. */
  title: z.nullable(SessionTitle),
});

// No length bound: an id that names no session is a 404 (SPEC §7), and every source looks any id up safely
// (the agent's session API is not asked about ids longer than it makes: upstream-sessions.ts).
export const SessionIdParams = z.object({ id: z.string().check(z.minLength(1)) });

export const SessionResponse = z.object({ session: Session });
export const SessionListResponse = z.object({ items: z.array(Session), total: z.number().check(z.int()), limit: z.number().check(z.int()), offset: z.number().check(z.int()) });
export const MessageListResponse = z.object({ items: z.array(Message), total: z.number().check(z.int()), session_id: z.string() });
export const DeletedResponse = z.object({ deleted: z.literal(true), session_id: z.string() });
export { ErrorBody } from '../../lib/api-schemas';

import { z } from 'zod';
import { SAFE_ID } from '../../lib/ids';

/** Where the row shown for a session comes from (the first source that has it, in this order). */
export const SessionOrigin = z.enum(['state-db', 'upstream', 'sidecar']);
export type SessionOrigin = z.infer<typeof SessionOrigin>;

export const Session = z.object({
  id: z.string(),
  title: z.string().nullable(),
  model: z.string().nullable(),
  /** Hermes' platform tag (`cli`, `telegram`, `api_server`, …); `optx-api` for sessions only the sidecar has. */
  source: z.string().nullable(),
  origin: SessionOrigin,
  /** Epoch seconds, as Hermes writes them. */
  started_at: z.number().nullable(),
  ended_at: z.number().nullable(),
  last_active: z.number().nullable(),
  message_count: z.number().int(),
  tool_call_count: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  preview: z.string().nullable(),
});
export type Session = z.infer<typeof Session>;

export const Message = z.object({
  id: z.union([z.number(), z.string()]),
  session_id: z.string(),
  role: z.string(),
  /** Text, or the decoded parts of a multimodal message. */
  content: z.unknown(),
  tool_calls: z.array(z.unknown()).nullable(),
  tool_call_id: z.string().nullable(),
  tool_name: z.string().nullable(),
  timestamp: z.number().nullable(),
  reasoning: z.string().nullable(),
});
export type Message = z.infer<typeof Message>;

/** The source value of sessions that exist only in the sidecar's transcript store. */
export const SIDECAR_SOURCE = 'optx-api';

const intParam = (def: number, min: number, max: number) =>
  z.string().regex(/^\d+$/, { error: `expected an integer from ${min} to ${max}` })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: `expected an integer from ${min} to ${max}` }).max(max, { error: `expected an integer from ${min} to ${max}` }))
    .optional()
    .transform((v) => v ?? def);

export const ListSessionsQuery = z.object({
  limit: intParam(50, 1, 500),
  offset: intParam(0, 0, 1_000_000_000),
  source: z.string().trim().min(1).max(64).optional(),
});
export type ListSessionsQuery = z.infer<typeof ListSessionsQuery>;

export const ListMessagesQuery = z.object({
  limit: intParam(100, 1, 1000),
  offset: intParam(0, 0, 1_000_000_000),
});
export type ListMessagesQuery = z.infer<typeof ListMessagesQuery>;

/** Ids a client may choose; `new` is the static route `/api/sessions/new/…`. */
export const NewSessionId = z.string().regex(SAFE_ID, { error: 'expected 1-128 URL-safe characters (letters, digits, _ . : -)' })
  .refine((id) => id !== 'new', { error: '"new" is reserved' });

const Title = z.string().trim().min(1, { error: 'must not be empty' }).max(256);

/** An empty body is a session with a new id. */
export const CreateSessionBody = z.object({
  id: NewSessionId.optional(),
  title: Title.optional(),
  model: z.string().trim().min(1).max(256).optional(),
}).default({});
export type CreateSessionBody = z.infer<typeof CreateSessionBody>;

export const PatchSessionBody = z.object({
  /** null clears the title. */
  title: Title.nullable(),
});

export const SessionIdParams = z.object({ id: z.string().min(1).max(256) });

export const SessionResponse = z.object({ session: Session });
export const SessionListResponse = z.object({ items: z.array(Session), total: z.number().int(), limit: z.number().int(), offset: z.number().int() });
export const MessageListResponse = z.object({ items: z.array(Message), total: z.number().int(), session_id: z.string() });
export const DeletedResponse = z.object({ deleted: z.literal(true), session_id: z.string() });
export const ErrorBody = z.object({ detail: z.string(), code: z.string() });

/** What both upstream adapters share: failures as ChatEvents and token usage in one shape. */
import { z } from '../../../lib/zod';
import { isPlainObject } from '../../../lib/api-schemas';
import { ApiError } from '../../../lib/errors';
import type { ChatEvent, NativeFrame, Usage } from '../model';

export function failed(e: ApiError, native?: NativeFrame): Extract<ChatEvent, { type: 'failed' }> {
  return { type: 'failed', code: e.code, message: e.detail, status: e.status, ...(native ? { native } : {}) };
}

/** A failure of the sidecar's own, not the upstream's (see ChatEvent `own`). */
export function ownFailure(e: ApiError): ChatEvent {
  return { ...failed(e), own: true, ...(e.extra.headers ? { headers: e.extra.headers } : {}) };
}

/**
 * The agent's run failed (it raised, its provider failed): one code whichever way the gateway says so
 * — the session stream's `error` event, a completions finish chunk with `finish_reason: "error"` bare
 * or with an `error` object — and the gateway's reason, when it gives one, kept in the message.
 */
export function agentFailed(reason: string | undefined): ApiError {
  const what = 'The agent stopped with an error before its answer was complete';
  return new ApiError(502, 'agent_incomplete', reason ? `${what}: ${reason.slice(0, 500)}` : `${what}.`);
}

export const badChunk = (): ApiError => new ApiError(502, 'upstream_bad_chunk', 'The Hermes upstream sent a malformed stream frame.');

const count = z.number().check(z.int(), z.nonnegative());

/** Hermes' `{input_tokens, output_tokens}` or OpenAI's `{prompt_tokens, completion_tokens}`. */
export const UpstreamUsage = z.looseObject({
  input_tokens: z.optional(count),
  output_tokens: z.optional(count),
  prompt_tokens: z.optional(count),
  completion_tokens: z.optional(count),
  total_tokens: z.optional(count),
});

const USAGE_KEYS = ['input_tokens', 'output_tokens', 'prompt_tokens', 'completion_tokens', 'total_tokens'] as const;
const isCount = (v: unknown) => v === undefined || (Number.isSafeInteger(v) && (v as number) >= 0);
/** UpstreamUsage by hand (zod's check costs ~30 µs per frame on cold caches); a property test holds it to the schema. */
export const isUpstreamUsage = (u: unknown): u is z.infer<typeof UpstreamUsage> =>
  isPlainObject(u) && USAGE_KEYS.every((k) => isCount(u[k]));

export function normalizeUsage(u: z.infer<typeof UpstreamUsage> | null | undefined): Usage | null {
  if (!u) return null;
  const input = u.input_tokens ?? u.prompt_tokens;
  const output = u.output_tokens ?? u.completion_tokens;
  if (input === undefined && output === undefined) return null;
  return { input_tokens: input ?? 0, output_tokens: output ?? 0, total_tokens: u.total_tokens ?? (input ?? 0) + (output ?? 0) };
}

/** How long the upstream may take to end its response after the turn's last event. */
const DRAIN_MS = 2000;

/**
 * After the turn's last event: reads the rest of the upstream response (normally just its end) so the
 * keep-alive connection goes back to the pool — cancelling a body before its end closes the
 * connection, and the next turn would pay for a new one. An upstream that lingers is aborted.
 */
export async function drain(frames: AsyncIterator<unknown>, stop: () => void): Promise<void> {
  const timer = setTimeout(stop, DRAIN_MS);
  try {
    while (!(await frames.next()).done);
  } catch {
    // Aborted or dropped after the last event: the turn is complete either way.
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Message content as Hermes stores it: plain text, or multimodal parts (a list/dict) written as
 * "\u0000json:" + JSON. The sidecar's own transcript store uses the same encoding, so one decoder
 * serves both.
 */
import { MAX_JSON_DEPTH, nestedDeeperThan } from '../../lib/body';
import { cutText } from '../../lib/text';
import { textHead, textLiterals } from './parts-text';

const JSON_PREFIX = '\u0000json:';

/**
 * JSON the agent wrote, read; null when it does not parse or nests deeper than any request may
 * (200,000 levels took most of a second to parse, and the page holding it could not be sent: a 500).
 */
function storedJson(text: string): { value: unknown } | null {
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) return null;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return null;
  }
}

/** Text stays text; a "\u0000json:" value becomes its parts. A blob that does not parse is shown as text, never dropped. */
export function decodeContent(raw: unknown): unknown {
  if (typeof raw !== 'string' || !raw.startsWith(JSON_PREFIX)) return raw ?? null;
  const body = raw.slice(JSON_PREFIX.length);
  const read = storedJson(body);
  return read ? read.value : body;
}

/** Strings are stored as they are; parts (arrays, objects) with the sentinel prefix. */
export function encodeContent(content: unknown): string | null {
  if (content === null || content === undefined) return null;
  if (typeof content === 'string') return content;
  return JSON_PREFIX + JSON.stringify(content);
}

/** The text of decoded content: a string, or the text parts of a part list joined by newlines. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (typeof p === 'string' ? p : p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
      .filter(Boolean)
      .join('\n');
  }
  if (content && typeof content === 'object' && typeof (content as { text?: unknown }).text === 'string') return (content as { text: string }).text;
  return '';
}

/** The one-line preview of a session: the start of its first user message, whitespace runs made one space. */
export function previewOf(raw: unknown, max = 60): string | null {
  const head = textHeads(raw);
  // Only as much of the message as the preview needs is collapsed: a first message of 50 MB (a pasted
  // log) made every session list that showed it take seconds. A collapsed start of max + 2 characters
  // decides the cut: grapheme boundaries up to `max` depend on nothing after `max + 1`, and one space
  // at its end (maybe trimmed in the whole text) still leaves more than `max`.
  for (let n = 4 * max + 64; ; n *= 4) {
    const { text, whole } = head(n);
    if (whole) {
      const folded = text.replace(/\s+/g, ' ').trim();
      return folded ? cutText(folded, max) : null;
    }
    const folded = text.replace(/\s+/g, ' ').trimStart();
    if (folded.length >= max + 2) return cutText(folded, max);
  }
}

/**
 * The first `n` units of the text `contentText(decodeContent(raw))` gives, and whether that is all of
 * it. Parts are not parsed whole for it (see parts-text.ts): the start of their text is all a preview shows.
 */
function textHeads(raw: unknown): (n: number) => { text: string; whole: boolean } {
  let text: string;
  if (typeof raw === 'string' && raw.startsWith(JSON_PREFIX)) {
    const body = raw.slice(JSON_PREFIX.length);
    const literals = textLiterals(body);
    if (literals) return (n) => textHead(body, literals, n);
    text = body;
  } else {
    text = contentText(decodeContent(raw));
  }
  return (n) => ({ text: text.slice(0, n), whole: text.length <= n });
}

/** `tool_calls` is a JSON string in state.db: a list as it is, a single call object as a list of one, anything else null. */
export function parseToolCalls(raw: unknown): unknown[] | null {
  if (Array.isArray(raw)) return raw;
  if (typeof raw !== 'string' || !raw.trim()) return null;
  const v = storedJson(raw)?.value;
  return Array.isArray(v) ? v : v && typeof v === 'object' ? [v] : null;
}

export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: unknown;
}

/** Messages a history source reads per page, newest first (transcripts and state.db alike). */
export const HISTORY_PAGE = 200;

/** A stored message as a history source yields it; `timestamp` in epoch seconds. */
export interface TimedMessage {
  role: string;
  content: unknown;
  timestamp: number | null;
}

/**
 * Two newest-first histories of one session as one, newest first by timestamp: the agent's own record
 * and the turns the sidecar kept for it (sent without the agent filing them under the id). Read only
 * as far as the caller goes; on a tie (or no timestamp) the agent's message counts as the newer.
 * The one order of such a session: the context of its next turn and its GET /messages (merged-messages.ts,
 * which merges the messages' times alone) both take it from here.
 */
export function* mergedNewestFirst<T extends { timestamp: number | null }>(agent: Iterable<T>, kept: Iterable<T>): Generator<T> {
  const a = agent[Symbol.iterator]();
  const k = kept[Symbol.iterator]();
  let x = a.next();
  let y = k.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && (x.value.timestamp ?? Infinity) >= (y.value.timestamp ?? -Infinity))) {
      yield x.value as T;
      x = a.next();
    } else {
      yield y.value;
      y = k.next();
    }
  }
}

/**
 * The newest user and assistant turns with content whose JSON (one comma each) fits in `maxBytes`,
 * starting on a user turn when older ones were left out: what an upstream without memory of the
 * session is sent as context.
 * `newestFirst` is read only as far as the budget goes, so a source that pages lazily reads the tail
 * of a long session, not all of it.
 */
export function recentConversation(newestFirst: Iterable<{ role: string; content: unknown }>, maxBytes: number): HistoryMessage[] {
  const out: HistoryMessage[] = [];
  let bytes = 0;
  let cut = false;
  for (const m of newestFirst) {
    if ((m.role !== 'user' && m.role !== 'assistant') || !contentText(m.content).trim()) continue;
    const turn: HistoryMessage = { role: m.role, content: m.content };
    bytes += Buffer.byteLength(JSON.stringify(turn)) + 1;
    if (bytes > maxBytes) {
      cut = true;
      break;
    }
    out.push(turn);
  }
  out.reverse();
  if (!cut) return out;
  const firstUser = out.findIndex((m) => m.role === 'user');
  return firstUser < 0 ? [] : out.slice(firstUser);
}

/**
 * GET /api/sessions/{id}/messages of a session of the sidecar's own that the agent holds only in part
 * (some turns sent without X-Hermes-Session-Id, `chat_messages.unfiled`): the agent's record of the id
 * and the turns it did not file, in the order the context of the session's next turn has them
 * (`mergedNewestFirst`, SessionService.history), oldest first, with a true total.
 *
 * Only the messages' times are merged, and only as far as the page needs: the merge walks from the
 * newest message back and stops once every kept turn has its place (the rest is the agent's record, in
 * its order) or the page is passed. The kept turns are the newest as a rule (once a session is held in
 * part, every later turn goes without the header), so a page reads the times of the agent's newest
 * messages and the rows of the page, not the whole session.
 */
import { HISTORY_PAGE, mergedNewestFirst } from './content';
import type { Message } from './model';
import type { TranscriptStore } from './transcripts';

/** The agent's record of a session, oldest first, as a merged page reads it (state.db, or the session API's list). */
export interface AgentRecord {
  /** How many messages it has. */
  count: number;
  /** The same while the record is (StateDb's kept ids); none when it is read anew each time. */
  version?: object;
  /** The times of messages [from, to), epoch seconds, NaN for none. */
  times(from: number, to: number): ArrayLike<number>;
  /** The messages at these indexes (ascending), one for each: undefined for one gone meanwhile. */
  rows(indexes: number[]): (Message | undefined)[];
}

/** The agent's record as the session API answers it: the whole list, read at once (that API does not page). */
export const listRecord = (all: Message[]): AgentRecord => ({
  count: all.length,
  times: (from, to) => all.slice(from, to).map((m) => m.timestamp ?? NaN),
  rows: (indexes) => indexes.map((i) => all[i]),
});

/** A message of one source, and its index there (oldest first). */
interface Slot {
  kept: boolean;
  i: number;
  timestamp: number | null;
}

/** One source's messages from the newest back, their times read `HISTORY_PAGE` at a time as the merge takes them. */
function* newestFirst(kept: boolean, count: number, times: (from: number, to: number) => ArrayLike<number>): Generator<Slot> {
  for (let end = count; end > 0; end -= HISTORY_PAGE) {
    const start = Math.max(0, end - HISTORY_PAGE);
    const page = times(start, end);
    for (let i = end - 1; i >= start; i--) {
      const time = page[i - start]!;
      yield { kept, i, timestamp: Number.isNaN(time) ? null : time };
    }
  }
}

/**
 * The merge of one session's two sources, walked from the newest message as far as the pages asked
 * so far needed, noting where each kept message falls (its place, counted from the newest). Once
 * every kept message has its place the rest is the agent's record in its order: no more is read.
 */
class Walk {
  /** The places of the kept messages found so far, newest first (so ascending). */
  readonly places: number[] = [];
  private place = 0;
  private readonly merged: Iterator<Slot>;

  constructor(readonly agent: AgentRecord, readonly kept: { ids: Float64Array; times: Float64Array }) {
    this.merged = mergedNewestFirst(newestFirst(false, agent.count, agent.times), newestFirst(true, kept.times.length, (a, b) => kept.times.subarray(a, b)));
  }

  /** The messages at places [from, to), oldest first, as (source, index) pairs. */
  slots(from: number, to: number): Omit<Slot, 'timestamp'>[] {
    while (this.place < to && this.places.length < this.kept.times.length) {
      if ((this.merged.next().value as Slot).kept) this.places.push(this.place);
      this.place++;
    }
    const out: Omit<Slot, 'timestamp'>[] = [];
    // How many kept messages are newer than `from`: the first of them at or past it.
    let k = lowerBound(this.places, from);
    for (let place = from; place < to; place++) {
      if (this.places[k] === place) out.push({ kept: true, i: this.kept.times.length - 1 - k++ });
      else out.push({ kept: false, i: this.agent.count - 1 - (place - k) });
    }
    return out.reverse();
  }
}

function lowerBound(sorted: number[], value: number): number {
  let [lo, hi] = [0, sorted.length];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sessions whose walk is kept (a client paging through a few at once), as state.db keeps their ids. */
const KEPT_WALKS = 8;

/**
 * Pages of merged lists. A session's walk is kept while both sources hand back the same record (the
 * agent's ids, kept by StateDb until another connection commits; the kept turns' times, kept by the
 * TranscriptStore until its database is written), so paging on reads only each page's rows. A record
 * from the session API is read anew for every page and its walk is not kept.
 */
export class MergedPages {
  private readonly walks = new Map<string, Walk>();

  constructor(private readonly transcripts: TranscriptStore) {}

  /**
   * A page, oldest first. A kept message's id is `optx-api:<its id in the sidecar's store>`: the two
   * stores number their messages apart, so plain numbers could name two messages of the list.
   */
  page(id: string, agent: AgentRecord, limit: number, offset: number): { items: Message[]; total: number } {
    const kept = this.transcripts.unfiledTimes(id);
    const walk = this.walk(id, agent, kept);
    const total = walk.agent.count + kept.times.length;
    // The page in places counted from the newest: [from, to).
    const to = Math.max(0, total - offset);
    const slots = walk.slots(Math.max(0, to - limit), to);
    const agentRows = walk.agent.rows(slots.filter((s) => !s.kept).map((s) => s.i));
    const keptRows = new Map(this.transcripts.messagesWithIds(id, slots.filter((s) => s.kept).map((s) => kept.ids[s.i]!)).map((m) => [m.id, m]));
    const items: Message[] = [];
    let a = 0;
    for (const s of slots) {
      const m = s.kept ? keptRows.get(kept.ids[s.i]!) : agentRows[a++];
      if (m) items.push(s.kept ? { ...m, id: `optx-api:${m.id}` } : m);
    }
    return { items, total };
  }

  private walk(id: string, agent: AgentRecord, kept: Walk['kept']): Walk {
    const old = this.walks.get(id);
    this.walks.delete(id);
    const walk = old && agent.version !== undefined && old.agent.version === agent.version && old.kept === kept ? old : new Walk(agent, kept);
    if (agent.version === undefined) return walk;
    this.walks.set(id, walk);
    if (this.walks.size > KEPT_WALKS) this.walks.delete(this.walks.keys().next().value as string);
    return walk;
  }
}

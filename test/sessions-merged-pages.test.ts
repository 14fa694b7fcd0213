/**
 * Pages of the merged messages of a session the agent holds in part (merged-messages.ts) against the
 * whole merge the context is built from (`mergedNewestFirst` over both sources, read to the end),
 * on generated sources: times out of order, missing, tied, and kept turns anywhere among the agent's.
 * The walk kept between pages must give the same pages as walking afresh, reading each of the agent's
 * times at most once while neither source changes.
 */
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { mergedNewestFirst } from '../src/modules/sessions/content';
import { type AgentRecord, MergedPages } from '../src/modules/sessions/merged-messages';
import type { Message } from '../src/modules/sessions/model';
import type { TranscriptStore } from '../src/modules/sessions/transcripts';

const message = (id: number | string, timestamp: number | null): Message => ({
  id, session_id: 's', role: 'user', content: String(id), tool_calls: null, tool_call_id: null, tool_name: null, timestamp, reasoning: null,
});

/** A time: whole seconds from a small range (so ties happen), or none. */
const time = fc.option(fc.integer({ min: 0, max: 20 }), { nil: null });

interface Sources {
  agent: (number | null)[];
  kept: (number | null)[];
}

/** The agent's record: message i has id 1000 + i; `timesRead` counts the times read. */
function agentRecord(times: (number | null)[], version?: object): AgentRecord & { timesRead: number } {
  const record = {
    count: times.length,
    version,
    timesRead: 0,
    times: (from: number, to: number) => {
      record.timesRead += to - from;
      return times.slice(from, to).map((t) => t ?? NaN);
    },
    rows: (indexes: number[]) => indexes.map((i) => message(1000 + i, times[i]!)),
  };
  return record;
}

/** The sidecar's store: kept message j has id j + 1 (the kept turns' times are never missing there, but any may tie). */
function store(times: (number | null)[]): TranscriptStore {
  const kept = { ids: Float64Array.from(times, (_, j) => j + 1), times: Float64Array.from(times, (t) => t ?? 0) };
  return {
    unfiledTimes: () => kept,
    messagesWithIds: (_id: string, ids: number[]) => ids.map((id) => message(id, kept.times[id - 1]!)),
  } as unknown as TranscriptStore;
}

/** The whole list, oldest first: the merge the context takes, read to its end. */
function whole(s: Sources): (number | string)[] {
  const agent = s.agent.map((t, i) => ({ id: 1000 + i as number | string, timestamp: t })).reverse();
  const kept = s.kept.map((t, j) => ({ id: `optx-api:${j + 1}` as number | string, timestamp: t ?? 0 })).reverse();
  return [...mergedNewestFirst(agent, kept)].map((m) => m.id).reverse();
}

const sources = fc.record({ agent: fc.array(time, { maxLength: 40 }), kept: fc.array(time, { maxLength: 40 }) });

describe('merged pages', () => {
  test('every page is the slice of the whole merge, with a true total, walked afresh or kept, in any page order', () => {
    fc.assert(fc.property(sources, fc.integer({ min: 1, max: 7 }), fc.array(fc.nat({ max: 90 }), { minLength: 1, maxLength: 8 }), (s, limit, offsets) => {
      const expected = whole(s);
      const kept = new MergedPages(store(s.kept));
      const agent = agentRecord(s.agent, {});
      for (const offset of offsets) {
        const want = expected.slice(offset, offset + limit);
        const fresh = new MergedPages(store(s.kept)).page('s', agentRecord(s.agent), limit, offset);
        const again = kept.page('s', agent, limit, offset);
        for (const got of [fresh, again]) {
          expect(got.items.map((m) => m.id)).toEqual(want);
          expect(got.total).toBe(expected.length);
        }
      }
      expect(agent.timesRead).toBeLessThanOrEqual(s.agent.length);
    }), { numRuns: 500 });
  });

  test('a kept walk is walked anew once the agent\'s record changes', () => {
    const pages = new MergedPages(store([5, 6]));
    const before = agentRecord([1, 2, 3], {});
    expect(pages.page('s', before, 10, 0).items.map((m) => m.id)).toEqual([1000, 1001, 1002, 'optx-api:1', 'optx-api:2']);
    // The agent wrote a message newer than the kept turns.
    const after = agentRecord([1, 2, 3, 9], {});
    expect(pages.page('s', after, 10, 0).items.map((m) => m.id)).toEqual([1000, 1001, 1002, 'optx-api:1', 'optx-api:2', 1003]);
  });
});

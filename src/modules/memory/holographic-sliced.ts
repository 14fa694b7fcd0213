/**
 * The reads of the agent's memory_store.db that touch every fact: a search without words that filters
 * (by tag or category: no index on tags, facts of equal trust sorted by id) and the counts of the stats
 * answer. Each fact row carries an 8 KB vector, so after an agent commit (nothing kept is valid) they
 * held the event loop 157–317 ms at 100,000 facts, every other request and open stream waiting.
 *
 * They are read as the session list is (src/db/sliced-read.ts, shared-reads.ts): in slices of fact ids
 * inside one snapshot on a connection of their own, paced so the agent's checkpoint can pass. Every
 * answer is the whole read's: a count is the sum of its slices' counts; the best facts are the best
 * of each slice's best, ordered by SQLite itself at the end; categories are grouped at the end by
 * SQLite, one fact standing for each slice's group, so equality and order are the column's own.
 */
import type { Database, SQLQueryBindings } from 'bun:sqlite';
import { statSync } from 'node:fs';
import { type KeptReads, readSnapshot, writeStamp } from '../../db/kept-reads';
import { ApiError } from '../../lib/errors';
import { type FileIdentity, readInSlices, type SlicePlan } from '../../db/sliced-read';
import { type LineClock, ReadLine, SharedRead } from '../../db/shared-reads';
import { countFacts, type FactCounts, withSmallCounts } from './holographic-counts';
import { BEST_ORDER, FACT_COLUMNS, type FactRow } from './holographic-facts';
import { filterSql } from './holographic-filters';
import { bestByTrust, type FactPage } from './holographic-search';
import type { SearchFilters } from './store';

/** Fact ids per slice: ~5–15 ms of reading at 100,000 facts after a commit (docs/memory.md). */
export const FACT_SLICE = 2000;

/** How long a read waits, with the loop free, for a checkpoint or recovery of the agent's to end. */
const READ_WAIT_MS = 1000;

/** Kinds of read (filters, limits) whose sharing state is kept; idle ones beyond this are dropped. */
const KINDS = 32;

export class SlicedFactReads {
  private readonly line: ReadLine;
  private readonly kinds = new Map<string, SharedRead<string, unknown>>();
  /** The file `sqlite` has open: a slice connection that finds another at the path reads nothing. */
  private readonly file: FileIdentity | null;
  /** Ends the reads asked for so far (`abandon`); replaced at each abandon. */
  private abandoned = new AbortController();

  /**
   * `sqlite`: the backend's connection, whose write stamp says what is kept and whether the line's
   * pause is needed (none while nobody commits); `slice`: tests cut smaller; `clock`: tests move it.
   */
  constructor(private readonly path: string, private readonly sqlite: Database, private readonly slice = FACT_SLICE, clock?: LineClock) {
    this.line = new ReadLine(clock, () => writeStamp(sqlite));
    const st = statSync(path, { throwIfNoEntry: false });
    this.file = st ? { dev: st.dev, ino: st.ino } : null;
  }

  /** A search without words: the `limit` best facts by trust that pass `filters`, and how many pass. */
  best(kept: KeptReads<FactPage>, filters: SearchFilters, limit: number): Promise<FactPage> {
    return this.read(kept, JSON.stringify(['best', filters, limit]), bestPlan(filters, limit, this.slice));
  }

  counts(kept: KeptReads<FactCounts>): Promise<FactCounts> {
    return this.read(kept, 'counts', countsPlan(this.slice));
  }

  /**
   * Closes the snapshot of a read under way, and fails it and those waiting in line: the file was
   * replaced and the backend lets go of it. Left open, the snapshot kept the old file's WAL from being
   * folded in and released, and the request that found the new file was a 503 blaming the agent.
   * Reads asked for later go on: the backend is asked again only once the file at the path is its own
   * again (a replacement undone while the agent held the old file; release refused, nothing dropped),
   * and failing them too left stats unreachable and filtered searches 503 until a restart.
   */
  abandon(): void {
    const { abandoned } = this;
    this.abandoned = new AbortController();
    // The failed reads' sharing goes with them: a later caller of the same kind joined the read under
    // way (same state) or in line, and was failed by an abandon it came after.
    this.kinds.clear();
    abandoned.abort(new ApiError(503, 'memory_unavailable', 'The memory file was replaced while this read ran; try again.', { headers: { 'retry-after': '1' } }));
  }

  /**
   * What `kept` holds for `key` while the file is unchanged; else one read shared by every caller of
   * the same state. The stamp is taken before the snapshot: a commit between them makes the kept
   * answer look older than it is (read again next time), never newer.
   */
  private read<S, T>(kept: KeptReads<T>, key: string, plan: SlicePlan<S, T>): Promise<T> {
    const hit = kept.peek(key);
    if (hit) return Promise.resolve(hit.value);
    // Taken now, not when the turn comes: a read waiting in line at an abandon is failed by it too.
    const { signal } = this.abandoned;
    let kind = this.kinds.get(key) as SharedRead<string, T> | undefined;
    if (!kind) {
      kind = new SharedRead<string, T>(this.line);
      this.kinds.set(key, kind as SharedRead<string, unknown>);
      for (const [k, other] of this.kinds) if (this.kinds.size > KINDS && other !== kind && other.idle()) this.kinds.delete(k);
    }
    return kind.get(kept.stamp(), () => {
      const stamp = kept.stamp();
      const now = kept.peek(key, stamp);
      if (now) return now;
      return {
        version: stamp,
        read: async () => {
          // A file replaced at the path is read whole through the backend's connection, as before.
          const sliced = this.file && (await readInSlices(this.path, this.file, READ_WAIT_MS, () => {}, plan, signal));
          const value = sliced ?? readSnapshot(this.sqlite, () => plan.whole(plan.open(this.sqlite)));
          kept.put(key, stamp, value);
          return value;
        },
      };
    });
  }
}

/** Slices go by fact id; ids past 2^53 would not survive the step in JavaScript (read whole then). */
function idsFit(db: Database, slice: number): boolean {
  const max = db.query<{ m: number | bigint | null }, []>('SELECT max(fact_id) AS m FROM facts').get()?.m ?? 0;
  return Number.isSafeInteger(max) && (max as number) <= Number.MAX_SAFE_INTEGER - slice;
}

/** The range (after, last] of the next slice: `slice` ids from the first one left, or null when none is. */
function nextRange(db: Database, after: number, slice: number): number | null {
  const first = db.query<{ m: number | null }, [number]>('SELECT min(fact_id) AS m FROM facts WHERE fact_id > ?').get(after)?.m ?? null;
  return first === null ? null : first - 1 + slice;
}

function bestPlan(filters: SearchFilters, limit: number, slice: number): SlicePlan<{ db: Database; best: number[]; total: number }, FactPage> {
  const filter = filterSql(filters, filters.minImportance ?? 0);
  return {
    open: (db) => ({ db, best: [], total: 0 }),
    sliceable: (s) => idsFit(s.db, slice),
    whole: (s) => bestByTrust(s.db, filters, limit),
    slice: (s, after) => {
      const last = nextRange(s.db, after, slice);
      if (last === null) return null;
      // One pass over the slice: the window counts every fact that passes, before the LIMIT. The slice's
      // rows are read by id and sorted anyway, so the order can read a NULL trust as the list shows it.
      const rows = s.db.query<{ id: number; n: number }, SQLQueryBindings[]>(
        `SELECT f.fact_id AS id, COUNT(*) OVER () AS n FROM facts f WHERE f.fact_id > ? AND f.fact_id <= ? ${filter.sql} ${BEST_ORDER} LIMIT ?`,
      ).all(after, last, ...filter.params, limit);
      s.total += rows[0]?.n ?? 0;
      s.best.push(...rows.map((r) => r.id));
      if (s.best.length > limit) s.best = bestOf(s.db, s.best, limit).map((r) => r.fact_id);
      return last;
    },
    finish: (s) => ({ rows: bestOf(s.db, s.best, limit, FACT_COLUMNS), total: s.total }),
  };
}

/** The `limit` best of the facts `ids`, in the whole read's order, by SQLite's own comparison. */
function bestOf(db: Database, ids: number[], limit: number, columns = 'f.fact_id'): FactRow[] {
  if (!ids.length) return [];
  return db.query<FactRow, [string, number]>(`SELECT ${columns} FROM facts f WHERE f.fact_id IN (SELECT value FROM json_each(?)) ${BEST_ORDER} LIMIT ?`).all(JSON.stringify(ids), limit);
}

type CountState = { db: Database; groups: { rep: number; n: number }[]; withVectors: number };

function countsPlan(slice: number): SlicePlan<CountState, FactCounts> {
  return {
    open: (db) => ({ db, groups: [], withVectors: 0 }),
    sliceable: (s) => idsFit(s.db, slice),
    whole: (s) => countFacts(s.db),
    slice: (s, after) => {
      const last = nextRange(s.db, after, slice);
      if (last === null) return null;
      // Apart: a statement that groups copies every column it names into its sorter, and naming the
      // vector there read every 8 KB blob (50 times the time); a plain scan's IS NOT NULL does not.
      const groups = s.db.query<{ rep: number; n: number }, [number, number]>(
        'SELECT min(f.fact_id) AS rep, COUNT(*) AS n FROM facts f WHERE f.fact_id > ? AND f.fact_id <= ? GROUP BY f.category',
      ).all(after, last);
      for (const g of groups) s.groups.push(g);
      s.withVectors += s.db.query<{ n: number }, [number, number]>(
        'SELECT COUNT(*) AS n FROM facts f WHERE f.fact_id > ? AND f.fact_id <= ? AND f.hrr_vector IS NOT NULL',
      ).get(after, last)?.n ?? 0;
      return last;
    },
    finish: (s) => {
      // Each slice's group stands as one of its facts; SQLite groups those by the column as the whole read did.
      const merged = s.db.query<{ category: string | null; idx: string }, [string]>(
        'SELECT f.category AS category, json_group_array(j.key) AS idx FROM json_each(?) j CROSS JOIN facts f ON f.fact_id = j.value GROUP BY f.category ORDER BY f.category',
      ).all(JSON.stringify(s.groups.map((g) => g.rep)));
      const rows = merged.map((m) => ({ category: m.category, n: (JSON.parse(m.idx) as number[]).reduce((sum, i) => sum + (s.groups[i] as { n: number }).n, 0) }));
      return withSmallCounts(s.db, rows, s.withVectors);
    },
  };
}

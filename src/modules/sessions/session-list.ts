/**
 * The merged session list of SPEC §7: the agent's state.db (or its session API) and the sidecar's own
 * transcript store in one order, newest activity first, with a true total. The merged order is kept
 * while neither store has changed, so paging through 20,000 sessions does not sort them on every page.
 */
import { type ListSessionsQuery, type Session, type SessionOrigin, SIDECAR_SOURCE } from './model';
import type { StateDb } from './state-db';
import type { SessionKey } from './state-db-queries';
import type { HeldKey, TranscriptRow, TranscriptStore } from './transcripts';
import type { Work } from '../../lib/work';
import type { UpstreamSessions } from './upstream-sessions';

interface Entry {
  key: SessionKey;
  from: SessionOrigin;
  session?: Session;
}

const NONE: readonly SessionKey[] = [];

/** Which sources a read takes: state.db when readable, else the upstream session API when present. */
export interface LiveSources {
  stateDb: boolean;
  upstream: boolean;
}

export class SessionLister {
  /** The last merged, sorted list and the keys it was made from. */
  private memo: { stateKeys: readonly SessionKey[] | null; ownKeys: readonly SessionKey[]; held: readonly HeldKey[]; source: string | undefined; all: Entry[] } | null = null;

  constructor(private readonly d: { stateDb: StateDb; upstream: UpstreamSessions; transcripts: TranscriptStore }) {}

  async list(q: ListSessionsQuery, src: LiveSources, work?: Work): Promise<{ items: Session[]; total: number; limit: number; offset: number }> {
    const stateKeys = src.stateDb ? await this.d.stateDb.keys() : null;
    // Every session of the sidecar's own has its source: another source's list need not read them
    // (64 ms for ?source=cli at 100,000 own sessions, each read and dropped after every write).
    const ownKeys = q.source === undefined || q.source === SIDECAR_SOURCE ? this.d.transcripts.keys() : NONE;
    const held = this.d.transcripts.heldInPart();
    // Both stores hand back the same keys until their database changes: the merged order is then the same too.
    const memo = this.memo;
    let all: Entry[];
    if (!src.upstream && memo && memo.stateKeys === stateKeys && memo.ownKeys === ownKeys && memo.held === held && memo.source === q.source) all = memo.all;
    else {
      // state.db ids are its primary key, so unique: only the sidecar's ids are looked up, not all of
      // state.db's hashed (a Map of 100,000 ids held the event loop 40-140 ms after every agent commit).
      const own = new Set(ownKeys.map((key) => key.id));
      const taken = new Set<string>();
      const wanted = (key: SessionKey) => q.source === undefined || key.source === q.source;
      // A session of the sidecar's own the agent holds in part sorts by its last turn, which the agent may not have (withOverride).
      const lastTurn = new Map(held.map((h) => [h.id, h.lastActive]));
      const shown = (key: SessionKey): SessionKey => {
        const at = lastTurn.get(key.id);
        return at === undefined ? key : { ...key, lastActive: Math.max(key.lastActive ?? at, at) };
      };
      all = [];
      for (const key of stateKeys ?? NONE) {
        if (own.has(key.id)) taken.add(key.id);
        if (wanted(key)) all.push({ key: shown(key), from: 'state-db' });
      }
      if (src.upstream) {
        for (const s of await this.d.upstream.listAll(work)) {
          if (taken.has(s.id)) continue;
          taken.add(s.id);
          const key = { id: s.id, source: s.source, lastActive: s.last_active, startedAt: s.started_at };
          if (wanted(key)) all.push({ key: shown(key), from: 'upstream', session: s });
        }
      }
      for (const key of ownKeys) if (!taken.has(key.id) && wanted(key)) all.push({ key, from: 'sidecar' });
      all.sort((a, b) => byActivity(a.key, b.key));
      this.memo = src.upstream ? null : { stateKeys, ownKeys, held, source: q.source, all };
    }
    const page = all.slice(q.offset, q.offset + q.limit);
    return { items: this.materialize(page), total: all.length, limit: q.limit, offset: q.offset };
  }

  /** Full rows for a page of entries, with the sidecar's title overrides applied. */
  private materialize(page: Entry[]): Session[] {
    const ids = page.map((e) => e.key.id);
    const fromStateDb = this.d.stateDb.sessions(page.filter((e) => e.from === 'state-db').map((e) => e.key.id));
    const rows = this.d.transcripts.rows(ids);
    const out: Session[] = [];
    for (const e of page) {
      const row = rows.get(e.key.id);
      const primary = e.from === 'state-db' ? fromStateDb.get(e.key.id) : e.from === 'upstream' ? e.session : row && this.d.transcripts.toSession(row);
      // A state.db session deleted between the two reads is simply left out of the page.
      if (primary) out.push(withOverride(primary, row, this.d.transcripts));
    }
    return out;
  }
}

/**
 * A session found at the agent as the sidecar shows it: with the title the sidecar set over the agent's
 * (see SessionService.rename) and, for a session of its own the agent holds in part, the turns the agent
 * did not file counted in, two messages each, the last of them its last activity, and the first its
 * preview when the agent's record has none (every turn unfiled, or those it filed rewound): as GET /messages lists them
 * (merged-messages.ts). The turns it filed come before those it did not, so its preview stands otherwise.
 */
export function withOverride(s: Session, row: TranscriptRow | undefined, transcripts: Pick<TranscriptStore, 'preview'>): Session {
  if (!row || s.origin === 'sidecar') return s;
  const titled = row.titleSet ? { ...s, title: row.title } : s;
  if (row.origin !== 'sidecar' || row.unfiledTurns === 0) return titled;
  return {
    ...titled,
    message_count: titled.message_count + 2 * row.unfiledTurns,
    last_active: Math.max(titled.last_active ?? row.lastActive, row.lastActive),
    // Of the turns it did not file alone: a filed one missing from the record was rewound there (`active = 0`), and GET /messages does not list it.
    preview: titled.preview ?? transcripts.preview(row.id, true),
  };
}

/** Newest activity first, then newest start, then id, so pages are stable. */
function byActivity(a: SessionKey, b: SessionKey): number {
  return (b.lastActive ?? -Infinity) - (a.lastActive ?? -Infinity) || (b.startedAt ?? -Infinity) - (a.startedAt ?? -Infinity) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The agent's two SQLite files read at scale, through the real app in-process (`app.handle`, no
 * network): `$HERMES_HOME/state.db` (schema v19, Hermes 0.18) and the holographic `memory_store.db`.
 *
 *   bun scripts/bench/agent-stores.ts                                   # 10,000 / 50,000 / 100,000
 *   bun scripts/bench/agent-stores.ts --sizes 10000 --sessions 2000     # a quick run
 *
 * Each figure is the best of `--runs` reads (the machine may be shared: the best is the steadiest), twice: "unchanged" (nothing committed since the last
 * read) and "after a commit" (another connection, the agent's, committed an unrelated row just
 * before each read, so nothing kept from the previous read may be used).
 * - a page of `GET /api/sessions/{id}/messages` (50 messages at offset 0 and in the middle) of one
 *   session of N messages, one in ten of them a 6 KB tool output, 5 % rewound (`active = 0`, runs of 20);
 * - `GET /api/sessions` over `--sessions` sessions: the first page, `?source=telegram`, a deep page;
 * - holographic memory with N facts (8 KB vector each): a search without words by tag and by
 *   category, `GET /api/memory/stats`, and list pages at offset 0 and N − 100.
 */
import { Database } from 'bun:sqlite';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HolographicBackend } from '../../src/modules/memory/holographic';
import { openDatabase } from '../../src/db';
import { createStateDb } from '../../test/fixtures/state-db';
import { makeTestApp, tempDir } from '../../test/helpers/app';
import { fmt, report } from './lib';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,50000,100000' },
    sessions: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '15' },
    parts: { type: 'string', default: 'messages,list,memory' },
    // Adds the (session_id, active, timestamp) index later Hermes builds create, to see what it changes.
    'active-index': { type: 'boolean', default: false },
  },
});
const sizes = values.sizes.split(',').map(Number).sort((a, b) => a - b);
const sessionCount = Number(values.sessions);
const runs = Number(values.runs);
const parts = new Set(values.parts.split(','));

let seed = 7;
const random = () => ((seed = (seed * 1664525 + 1013904223) % 4294967296) / 4294967296);
const text = (n: number) => 'lorem ipsum dolor sit amet consectetur '.repeat(Math.ceil(n / 39)).slice(0, n);
const CATEGORIES = ['general', 'project', 'user_pref', 'tool', 'infra', 'people', 'process', 'notes'];
const SOURCES = ['cli', 'telegram', 'discord', 'api_server'];

/** Best ms of `runs` calls of `read`, each after `before` (untimed). */
async function timed(read: () => Promise<unknown>, before: () => void = () => {}): Promise<number> {
  const times: number[] = [];
  await read();
  for (let i = 0; i < runs; i++) {
    before();
    const t = performance.now();
    await read();
    times.push(performance.now() - t);
  }
  return Math.min(...times);
}

async function ok(res: Promise<Response>): Promise<void> {
  const r = await res;
  if (r.status !== 200) throw new Error(`${r.url}: ${r.status} ${await r.text()}`);
  await r.arrayBuffer();
}

const dir = tempDir();
const home = join(dir, 'home');
mkdirSync(home, { recursive: true });
try {
  // --- state.db -----------------------------------------------------------------------------
  const agent = createStateDb(home, 'v19');
  const insertMessage = agent.db.query('INSERT INTO messages (session_id, role, content, timestamp, active) VALUES (?, ?, ?, ?, ?)');
  agent.db.transaction(() => {
    for (let i = 0; i < sessionCount; i++) {
      agent.db.run('INSERT INTO sessions (id, source, started_at, message_count) VALUES (?, ?, ?, 3)', [`s${i}`, SOURCES[i % SOURCES.length] as string, 1_700_000_000 + i]);
      for (let m = 0; m < 3; m++) insertMessage.run(`s${i}`, m % 2 ? 'assistant' : 'user', text(80 + m * 40), 1_700_000_000 + i + m, 1);
    }
    agent.db.run("INSERT INTO sessions (id, source, started_at) VALUES ('long', 'cli', 1800000000)");
    agent.db.run("INSERT INTO sessions (id, source, started_at) VALUES ('other', 'cli', 1600000000)");
  })();
  if (values['active-index']) agent.db.run('CREATE INDEX idx_messages_session_active ON messages(session_id, active, timestamp)');
  let written = 0;
  const commit = () => insertMessage.run('other', 'user', `tick ${written++}`, 1_600_000_000 + written, 1);

  const memDir = join(dir, 'memory-own');
  const memPath = join(home, 'memory_store.db');
  new HolographicBackend(memPath, openDatabase(memDir)).close(); // the plugin's schema
  const t = await makeTestApp({ env: { HERMES_HOME: home, MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: memPath } });
  try {
    console.log(`agent stores: best of ${runs} reads per figure${values['active-index'] ? ', state.db with idx_messages_session_active' : ''}; "after a commit" = the agent committed just before each read`);
    let had = 0;
    for (const size of parts.has('messages') ? sizes : []) {
      agent.db.transaction(() => {
        for (; had < size; had++) {
          const role = had % 10 === 5 ? 'tool' : had % 2 ? 'assistant' : 'user';
          insertMessage.run('long', role, text(role === 'tool' ? 6000 : 150 + (had % 7) * 60), 1_800_000_000 + had, 1);
        }
      })();
      // Hermes' rewinds: 5 % of the messages, in runs of 20 through the session, marked inactive.
      agent.db.run("UPDATE messages SET active = CASE WHEN (id / 20) % 20 = 7 THEN 0 ELSE 1 END WHERE session_id = 'long'");
      agent.db.run('PRAGMA wal_checkpoint(TRUNCATE)');
      const page = (offset: number) => ok(t.fetch(`/api/sessions/long/messages?limit=50&offset=${offset}`));
      const first = [await timed(() => page(0)), await timed(() => page(0), commit)];
      const middle = [await timed(() => page(size / 2)), await timed(() => page(size / 2), commit)];
      console.log(`state.db v19  ${String(size).padStart(7)} messages  page@0 ${fmt(first[0]!)} / ${fmt(first[1]!)} ms  page@middle ${fmt(middle[0]!)} / ${fmt(middle[1]!)} ms  (unchanged / after a commit)`);
      report({ area: 'agent-stores', metric: `state.db v19${values['active-index'] ? ' (+active index)' : ''} message page at ${size} messages (unchanged / after a commit)`, value: `${fmt(first[0]!)} / ${fmt(first[1]!)} ms` });
    }

    const list = (q: string) => ok(t.fetch(`/api/sessions?limit=20${q}`));
    if (parts.has('list')) for (const [name, q] of [['first page', ''], ['source=telegram', '&source=telegram'], [`offset ${Math.floor(sessionCount * 0.75)}`, `&offset=${Math.floor(sessionCount * 0.75)}`]] as const) {
      const [same, after] = [await timed(() => list(q)), await timed(() => list(q), commit)];
      console.log(`GET /api/sessions ${name.padEnd(16)} ${sessionCount} sessions  ${fmt(same)} / ${fmt(after)} ms (unchanged / after a commit)`);
      report({ area: 'agent-stores', metric: `GET /api/sessions ${name} at ${sessionCount} sessions (unchanged / after a commit)`, value: `${fmt(same)} / ${fmt(after)} ms` });
    }

    // --- memory_store.db ------------------------------------------------------------------------
    const mem = new Database(memPath);
    mem.run('PRAGMA busy_timeout = 1000');
    const vector = new Uint8Array(8192);
    const insertFact = mem.query('INSERT INTO facts (content, category, tags, trust_score, hrr_vector) VALUES (?, ?, ?, ?, ?)');
    let fid = 0;
    const agentFact = () => mem.run('INSERT INTO facts (content, trust_score) VALUES (?, 0.1)', [`agent fact ${fid++}`]);
    let facts = 0;
    for (const size of parts.has('memory') ? sizes : []) {
      mem.transaction(() => {
        for (; facts < size; facts++) {
          for (let i = 0; i < vector.length; i += 8) vector[i] = Math.floor(random() * 256);
          const tags = Array.from({ length: Math.floor(random() * 4) }, () => `tag${Math.floor(random() * 50)}`).join(',');
          insertFact.run(`${text(40 + (facts % 50))} #${facts}`, CATEGORIES[facts % CATEGORIES.length] as string, tags, Math.round(random() * 10) / 10, vector);
        }
      })();
      mem.run('PRAGMA wal_checkpoint(TRUNCATE)');
      const search = (filters: Record<string, unknown>) => ok(t.fetch('/api/memory/search', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '', limit: 10, filters }) }));
      const rows: [string, () => Promise<void>][] = [
        ['tag browse', () => search({ tags: ['tag7'] })],
        ['category browse', () => search({ category: 'tool' })],
        ['stats', () => ok(t.fetch('/api/memory/stats'))],
        ['list offset 0', () => ok(t.fetch('/api/memory?limit=100&offset=0'))],
        [`list offset ${size - 100}`, () => ok(t.fetch(`/api/memory?limit=100&offset=${size - 100}`))],
      ];
      const parts: string[] = [];
      for (const [name, read] of rows) {
        const [same, after] = [await timed(read), await timed(read, agentFact)];
        parts.push(`${name} ${fmt(same)} / ${fmt(after)} ms`);
        report({ area: 'agent-stores', metric: `holographic ${name.replace(/\d{3,}/, 'N-100')} at ${size} facts (unchanged / after a commit)`, value: `${fmt(same)} / ${fmt(after)} ms` });
      }
      console.log(`memory_store ${String(size).padStart(7)} facts  ${parts.join('  ')}  (unchanged / after a commit)`);
    }
    mem.close();
  } finally {
    t.close();
    agent.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

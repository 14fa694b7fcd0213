/**
 * How long one request holds the event loop, so every other client (a chat stream's next token,
 * GET /health) waits: while the request runs in-process (`app.handle`), a 1 ms timer records its
 * largest gap, which is the wait a concurrent request sees. The request's own time is given beside.
 *
 *   bun scripts/bench/loop-stalls.ts                       # 100,000 memories / facts
 *   bun scripts/bench/loop-stalls.ts --size 10000 --runs 3
 *   bun scripts/bench/loop-stalls.ts --parts sessions --sessions 100000   # GET /api/sessions only
 *
 * `previews`: GET /api/sessions over a v19 state.db whose one session's first message is multimodal
 * content of 1 MB or 10 MB (the gateway's request limit), as Hermes stores it ("\u0000json:" + JSON): base64
 * screenshots with the text part last or first, or a pasted log sent as a text part; read after an agent
 * commit. Beside it, the time of previewOf on that content alone (median of 11), where the difference is.
 *
 * `sessions`: GET /api/sessions over a v19 state.db of `--sessions` sessions × 10 messages (one a 6 KB
 * tool output), each read just after an agent commit (a message appended to one session), so no key
 * kept from the previous read may be used. The FTS triggers are dropped before the rows go in (the
 * list never reads the FTS tables; with them the build takes minutes).
 *
 * Also: completing a task with 5,000 dependents (one run: a completion happens once) and GET /api/config
 * of a config.yaml with 10,000 anchors, each aliased once.
 *
 * Data: memories of ~90 characters, half Korean syllables (the range the 64-word query is drawn
 * from) and half the Latin words of scripts/bench/memory.ts; 50 tags. The holographic facts carry an
 * 8 KiB vector each, as the plugin writes them.
 */
import { Database } from 'bun:sqlite';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../../src/db';
import { HolographicBackend } from '../../src/modules/memory/holographic';
import { previewOf } from '../../src/modules/sessions/content';
import { createStateDb, multimodal } from '../../test/fixtures/state-db';
import { makeTestApp, tempDir, type TestApp } from '../../test/helpers/app';
import { fmt, loopStall, report } from './lib';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '5' },
    sessions: { type: 'string', default: '100000' },
    parts: { type: 'string', default: 'memory,sessions,previews,other' },
  },
});
const size = Number(values.size);
const parts = new Set(values.parts.split(','));
const runs = Number(values.runs);

let seed = 11;
const random = () => ((seed = (seed * 1664525 + 1013904223) % 4294967296) / 4294967296);
const hangul = (n: number) => Array.from({ length: n }, () => String.fromCharCode(0xac00 + Math.floor(random() * 2400))).join('');
const latin = (n: number) => Array.from({ length: n }, () => ['kalo', 'mine', 'rusa', 'tivo', 'zepa', 'dogu'][Math.floor(random() * 6)]).join(' ');
const content = (i: number) => `${hangul(12)} ${latin(5)} ${hangul(10)}를 ${latin(4)} ${hangul(8)} #${i}`;
const tags = () => Array.from({ length: Math.floor(random() * 4) }, () => `tag${Math.floor(random() * 50)}`);
const CATEGORIES = ['general', 'project', 'user_pref', 'tool', 'infra', 'people', 'process', 'notes'];
const CJK_64 = `咖啡 ${Array.from({ length: 64 }, (_, i) => String.fromCharCode(0xac00 + i * 37, 0xac00 + i * 53)).join(' ')}`;
const CJK_3 = '咖啡 김치 찌개';

/** The largest gap between 1 ms timer ticks while `request` runs, and the request's own time (its answer read whole). */
const stall = (request: () => Promise<Response>) =>
  loopStall(async () => {
    const res = await request();
    if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  });

async function measure(name: string, request: () => Promise<Response>, before: () => void = () => {}): Promise<void> {
  const gaps: number[] = [];
  const took: number[] = [];
  for (let i = 0; i < runs; i++) {
    before();
    const r = await stall(request);
    gaps.push(r.gap);
    took.push(r.took);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.log(`${name.padEnd(60)} loop held ${fmt(med(gaps)).padStart(9)} ms (max ${fmt(Math.max(...gaps))})  request ${fmt(med(took))} ms`);
  report({ area: 'loop-stalls', metric: `${name}: longest event-loop wait while it runs (median of ${runs})`, value: `${fmt(med(gaps))} ms` });
}

const post = (t: TestApp, path: string, body: unknown) => () => t.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const dir = tempDir();
try {
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  console.log(`loop stalls, median of ${runs} runs`);

  if (parts.has('sessions')) await sessionsList(home);
  if (parts.has('previews')) await partsPreviews(home);
  if (parts.has('memory')) await memory(home);
  if (parts.has('other')) await other(home);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

async function sessionsList(home: string): Promise<void> {
  const count = Number(values.sessions);
  const agent = createStateDb(home, 'v19');
  for (const { name } of agent.db.query("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as { name: string }[]) agent.db.run(`DROP TRIGGER ${name}`);
  const text = (n: number) => 'lorem ipsum dolor sit amet consectetur '.repeat(Math.ceil(n / 39)).slice(0, n);
  const insert = agent.db.query('INSERT INTO messages (session_id, role, content, timestamp, active) VALUES (?, ?, ?, ?, 1)');
  agent.db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const id = `api-${i.toString(16).padStart(16, '0')}`;
      agent.db.run('INSERT INTO sessions (id, source, started_at, message_count) VALUES (?, ?, ?, 10)', [id, ['cli', 'telegram', 'discord', 'api_server'][i % 4] as string, 1_700_000_000 + i]);
      for (let m = 0; m < 10; m++) insert.run(id, m === 5 ? 'tool' : m % 2 ? 'assistant' : 'user', text(m === 5 ? 6000 : 150), 1_700_000_000 + i + m);
    }
  })();
  agent.db.run('PRAGMA wal_checkpoint(TRUNCATE)');
  let written = 0;
  const commit = () => insert.run('api-0000000000000000', 'user', `tick ${written++}`, 1_600_000_000 + written);
  const t = await makeTestApp({ env: { HERMES_HOME: home } });
  try {
    console.log(`GET /api/sessions over ${count} state.db sessions x 10 messages, each read after an agent commit`);
    const deep = Math.floor(count * 0.75);
    for (const [name, q] of [['first page', ''], ['source=telegram', '&source=telegram'], [`offset ${deep}`, `&offset=${deep}`]] as const) {
      await measure(`GET /api/sessions ${name} at ${count} sessions, after a commit`, () => t.fetch(`/api/sessions?limit=20${q}`), commit);
    }
  } finally {
    t.close();
    agent.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(home, `state.db${suffix}`), { force: true });
  }
}

async function partsPreviews(home: string): Promise<void> {
  const image = { type: 'image_url', image_url: { url: `data:image/png;base64,${'iVBORw0KGgoAAAANSUhEUgAA'.repeat(4167)}` } }; // ~100 KB
  const text = { type: 'text', text: 'What is in these screenshots? Describe\neach one.' };
  const line = '2026-12-07T07:00:00Z INFO worker[12] "GET /api/x" handled in 12 ms\tstatus=200\n';
  const shapes = (mb: number): [string, string][] => [
    [`${mb} MB of screenshots, text part last`, multimodal([...Array.from({ length: mb * 10 }, () => image), text])],
    [`${mb} MB of screenshots, text part first`, multimodal([text, ...Array.from({ length: mb * 10 }, () => image)])],
    [`${mb} MB log as a text part`, multimodal([{ type: 'text', text: line.repeat(Math.ceil((mb * 1e6) / line.length)) }])],
  ];
  console.log('GET /api/sessions showing one session whose first message is multimodal content, read after an agent commit');
  for (const [name, content] of [...shapes(1), ...shapes(10)]) {
    const agent = createStateDb(home, 'v19');
    agent.addSession({ id: 'parts', started_at: 1_700_000_000 }, [{ role: 'user', content, timestamp: 1_700_000_001 }]);
    agent.addSession({ id: 'other', started_at: 1_700_000_000 });
    let written = 0;
    const commit = () => agent.addMessage('other', { role: 'user', content: `tick ${written++}`, timestamp: 1_600_000_000 + written });
    const t = await makeTestApp({ env: { HERMES_HOME: home } });
    try {
      await measure(`GET /api/sessions, first message ${name}`, () => t.fetch('/api/sessions?limit=20'), commit);
      const took: number[] = [];
      for (let i = 0; i < 11; i++) {
        const started = performance.now();
        previewOf(content);
        took.push(performance.now() - started);
      }
      const med = took.sort((a, b) => a - b)[5] as number;
      console.log(`${`  previewOf alone, ${name}`.padEnd(60)} ${fmt(med).padStart(9)} ms`);
      report({ area: 'loop-stalls', metric: `previewOf of a first message of ${name} (median of 11)`, value: `${fmt(med)} ms` });
    } finally {
      t.close();
      agent.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(join(home, `state.db${suffix}`), { force: true });
    }
  }
}

async function memory(home: string): Promise<void> {
  // --- sqlite: the sidecar's own memories -------------------------------------------------------
  const sq = await makeTestApp({ env: { HERMES_HOME: home, MEMORY_BACKEND: 'sqlite' } });
  try {
    const db = sq.deps.db.sqlite;
    const insert = db.query('INSERT INTO memories (id, content, content_sha256, category, tags, importance, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < size; i++) {
        const c = content(i);
        insert.run(`mem_${i}`, c, new Bun.CryptoHasher('sha256').update(c).digest('hex'), CATEGORIES[i % 8] as string, JSON.stringify(tags()), Math.round(random() * 10) / 10, '{}', new Date(1.7e12 + i * 1000).toISOString(), new Date(1.7e12 + i * 1000).toISOString());
      }
    })();
    await measure('sqlite: search of 64 CJK words', post(sq, '/api/memory/search', { query: CJK_64, limit: 5 }));
    await measure('sqlite: search of 1 Korean word', post(sq, '/api/memory/search', { query: '김치', limit: 5 }));
    await measure('sqlite: search of 3 CJK words', post(sq, '/api/memory/search', { query: CJK_3, limit: 5 }));
    await measure('sqlite: search of 3 Latin words', post(sq, '/api/memory/search', { query: 'kalo tivo zepa', limit: 5 }));
  } finally {
    sq.close();
  }

  // --- holographic: the agent's memory_store.db ---------------------------------------------------
  const memPath = join(home, 'memory_store.db');
  new HolographicBackend(memPath, openDatabase(join(dir, 'memory-own'))).close(); // the plugin's schema
  const mem = new Database(memPath);
  mem.run('PRAGMA busy_timeout = 1000');
  const vector = new Uint8Array(8192);
  const insertFact = mem.query('INSERT INTO facts (content, category, tags, trust_score, hrr_vector) VALUES (?, ?, ?, ?, ?)');
  mem.transaction(() => {
    for (let i = 0; i < size; i++) {
      for (let b = 0; b < vector.length; b += 8) vector[b] = Math.floor(random() * 256);
      insertFact.run(content(i), CATEGORIES[i % 8] as string, tags().join(','), Math.round(random() * 10) / 10, vector);
    }
  })();
  mem.run('PRAGMA wal_checkpoint(TRUNCATE)');
  let fid = 0;
  const agentFact = () => mem.run('INSERT INTO facts (content, trust_score) VALUES (?, 0.1)', [`agent fact ${fid++}`]);
  const ho = await makeTestApp({ env: { HERMES_HOME: home, MEMORY_BACKEND: 'holographic', HOLOGRAPHIC_DB_PATH: memPath } });
  try {
    await measure('holographic: search of 64 CJK words', post(ho, '/api/memory/search', { query: CJK_64, limit: 5 }));
    await measure('holographic: search of 1 Korean word', post(ho, '/api/memory/search', { query: '김치', limit: 5 }));
    await measure('holographic: search of 3 CJK words', post(ho, '/api/memory/search', { query: CJK_3, limit: 5 }));
    await measure('holographic: search of 3 Latin words', post(ho, '/api/memory/search', { query: 'kalo tivo zepa', limit: 5 }));
    await measure('holographic: tag browse after an agent commit', post(ho, '/api/memory/search', { query: '', limit: 10, filters: { tags: ['tag7'] } }), agentFact);
    await measure('holographic: category browse after an agent commit', post(ho, '/api/memory/search', { query: '', limit: 10, filters: { category: 'tool' } }), agentFact);
    await measure('holographic: stats after an agent commit', () => ho.fetch('/api/memory/stats'), agentFact);
  } finally {
    ho.close();
    mem.close();
  }
}

async function other(home: string): Promise<void> {
  // --- tasks and config ---------------------------------------------------------------------------
  const blocks = Array.from({ length: 10_000 }, (_, i) => `k${i}: &a${i} {x: ${i}, y: v${i}}\nu${i}: *a${i}`).join('\n');
  writeFileSync(join(home, 'config.yaml'), `model:\n  default: anthropic/claude-sonnet-4\n${blocks}\n`);
  const ta = await makeTestApp({ env: { HERMES_HOME: home } });
  try {
    await measure('GET /api/config, config.yaml with 10,000 anchors', () => ta.fetch('/api/config'));
    const parent = (await ta.json<{ task_id: string }>('POST', '/api/tasks', { title: 'parent' })).body.task_id;
    for (let i = 0; i < 5000; i++) await ta.json('POST', '/api/tasks', { title: `child ${i}`, depends_on: [parent] });
    await ta.json('POST', `/api/tasks/${parent}/claim`, { agent_name: 'a' });
    const complete = () => ta.fetch(`/api/tasks/${parent}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent_name: 'a' }) });
    const r = await stall(complete);
    console.log(`${'task complete with 5,000 dependents (one run)'.padEnd(60)} loop held ${fmt(r.gap).padStart(9)} ms  request ${fmt(r.took)} ms`);
    report({ area: 'loop-stalls', metric: 'task complete with 5,000 dependents: longest event-loop wait while it runs (one run)', value: `${fmt(r.gap)} ms` });
  } finally {
    ta.close();
  }
}

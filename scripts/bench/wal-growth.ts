/**
 * How large the agent's state.db-wal grows while clients keep listing sessions. The sidecar reads the
 * list keys inside one read transaction (state-db-keys.ts), and the agent's checkpoint can only copy the
 * WAL back up to the oldest open snapshot: if the sidecar always has one open, the checkpoint never
 * finishes, the WAL never restarts, and it grows by every commit. Hermes' own checkpoints are what keep it
 * small, so the measure is the -wal's size, once a second, with and without lists.
 *
 *   bun scripts/bench/wal-growth.ts                                   # 100,000 sessions, 15 s
 *   bun scripts/bench/wal-growth.ts --sessions 50000 --seconds 30 --lists none
 *   bun scripts/bench/wal-growth.ts --store memory --facts 100000     # memory_store.db (holographic)
 *
 * The agent is a child process committing one 2 KB message every 5 ms (default wal_autocheckpoint);
 * the lists are `StateDb.keys()` every 100 ms, each after commits, so each reads the file again.
 * With `--store memory` the file is the agent's memory_store.db of `--facts` facts with 8 KiB vectors,
 * the agent commits one fact (with its vector) every 5 ms, and every 100 ms the sidecar answers a tag
 * browse or the stats (alternately), each after commits, so each reads every fact again in slices
 * (holographic-sliced.ts).
 */
import { Database } from 'bun:sqlite';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../../src/db';
import { silentLogger } from '../../src/lib/log';
import { HolographicBackend } from '../../src/modules/memory/holographic';
import { StateDb } from '../../src/modules/sessions/state-db';
import { createStateDb } from '../../test/fixtures/state-db';
import { removeTempDirs, tempDir } from '../../test/helpers/temp';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '15' },
    lists: { type: 'string', default: 'every100ms' },
    store: { type: 'string', default: 'state' },
    facts: { type: 'string', default: '100000' },
    agent: { type: 'string' },
  },
});
const seconds = Number(values.seconds);

if (values.agent && values.store === 'memory') {
  // The child: the holographic plugin storing facts during a busy turn.
  const db = new Database(values.agent);
  db.run('PRAGMA busy_timeout = 5000');
  const insert = db.query("INSERT INTO facts (content, category, tags, hrr_vector) VALUES (?, 'general', 'tag7', ?)");
  const vector = new Uint8Array(8192);
  const stop = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < stop; i++) {
    insert.run(`agent fact ${i}`, vector);
    Bun.sleepSync(5);
  }
  db.close();
  process.exit(0);
}

if (values.agent) {
  // The child: a steady agent writer, as Hermes appends messages during a busy turn.
  const db = new Database(values.agent);
  db.run('PRAGMA busy_timeout = 5000');
  const insert = db.query("INSERT INTO messages (session_id, role, content, timestamp, active) VALUES (?, 'tool', ?, ?, 1)");
  const stop = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < stop; i++) {
    insert.run(`s${i % 1000}`, 'y'.repeat(2000), 2e9 + i);
    Bun.sleepSync(5);
  }
  db.close();
  process.exit(0);
}

if (values.store === 'memory') {
  await memoryStore();
  process.exit(0);
}

const count = Number(values.sessions);
const home = tempDir();
const fx = createStateDb(home, 'v19');
// The list never reads the FTS tables; with their triggers the build takes minutes.
for (const { name } of fx.db.query("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as { name: string }[]) fx.db.run(`DROP TRIGGER ${name}`);
fx.db.transaction(() => {
  const insert = fx.db.query("INSERT INTO messages (session_id, role, content, timestamp, active) VALUES (?, 'user', 'hello', ?, 1)");
  for (let i = 0; i < count; i++) {
    fx.db.run('INSERT INTO sessions (id, source, started_at, message_count) VALUES (?, ?, ?, 10)', [`s${i}`, 'cli', 1.7e9 + i]);
    for (let m = 0; m < 10; m++) insert.run(`s${i}`, 1.7e9 + i + m);
  }
})();
fx.db.run('PRAGMA wal_checkpoint(TRUNCATE)');
fx.close();
const path = join(home, 'state.db');
const stateDb = new StateDb(path, silentLogger);
const polled = await pollWhileAgentWrites(path, [], () => stateDb.keys());
stateDb.close();
removeTempDirs();
console.log(`${count} sessions, lists ${values.lists} (${polled.answered} answered, longest ${polled.longest} ms): state.db-wal KiB each second: ${polled.sizes.join(' ')}`);

/**
 * Runs the agent child writing to `path` for the run's seconds while `read` is asked every 100 ms (unless
 * `--lists none`), and records the size of the file's -wal each second.
 */
async function pollWhileAgentWrites(path: string, storeArgs: string[], read: (n: number) => Promise<unknown>): Promise<{ answered: number; longest: number; sizes: number[] }> {
  const agent = Bun.spawn([process.execPath, import.meta.path, ...storeArgs, '--agent', path, '--seconds', String(seconds)], { stdout: 'inherit', stderr: 'inherit' });
  let answered = 0;
  let longest = 0;
  const timer = values.lists === 'none' ? null : setInterval(() => {
    const t0 = performance.now();
    void read(answered).then(() => {
      longest = Math.max(longest, performance.now() - t0);
      answered++;
    });
  }, 100);
  const sizes: number[] = [];
  for (let s = 0; s < seconds; s++) {
    await Bun.sleep(1000);
    sizes.push(Math.round((statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0) / 1024));
  }
  await agent.exited;
  if (timer) clearInterval(timer);
  await Bun.sleep(2000);
  return { answered, longest: Math.round(longest), sizes };
}

async function memoryStore(): Promise<void> {
  const count = Number(values.facts);
  const dir = tempDir();
  const path = join(dir, 'memory_store.db');
  new HolographicBackend(path, openDatabase(':memory:')).close(); // the plugin's schema
  const fx = new Database(path);
  const insert = fx.query('INSERT INTO facts (content, category, tags, trust_score, hrr_vector) VALUES (?, ?, ?, 0.5, ?)');
  const vector = new Uint8Array(8192);
  fx.transaction(() => {
    for (let i = 0; i < count; i++) insert.run(`fact ${i}`, `c${i % 8}`, i % 3 ? 'tag7' : 'x', vector);
  })();
  fx.run('PRAGMA wal_checkpoint(TRUNCATE)');
  fx.close();
  const backend = new HolographicBackend(path, openDatabase(':memory:'));
  const polled = await pollWhileAgentWrites(path, ['--store', 'memory'], (n) => (n % 2 ? backend.stats() : backend.search({ query: '', limit: 10, filters: { tags: ['tag7'] } })));
  backend.close();
  removeTempDirs();
  console.log(`${count} facts, browse/stats ${values.lists} (${polled.answered} answered, longest ${polled.longest} ms): memory_store.db-wal KiB each second: ${polled.sizes.join(' ')}`);
}

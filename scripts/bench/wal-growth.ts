/**
 * How large the agent's state.db-wal grows while clients keep listing sessions. The sidecar reads the
 * list keys inside one read transaction (state-db-keys.ts), and the agent's checkpoint can only copy the
 * WAL back up to the oldest open snapshot: if the sidecar always has one open, the checkpoint never
 * finishes, the WAL never restarts, and it grows by every commit. Hermes' own checkpoints are what keep it
 * small, so the measure is the -wal's size, once a second, with and without lists.
 *
 *   bun scripts/bench/wal-growth.ts                                   # 100,000 sessions, 15 s
 *   bun scripts/bench/wal-growth.ts --sessions 50000 --seconds 30 --lists none
 *
 * The agent is a child process committing one 2 KB message every 5 ms (default wal_autocheckpoint);
 * the lists are `StateDb.keys()` every 100 ms, each after commits, so each reads the file again.
 */
import { Database } from 'bun:sqlite';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../../src/lib/log';
import { StateDb } from '../../src/modules/sessions/state-db';
import { createStateDb } from '../../test/fixtures/state-db';
import { removeTempDirs, tempDir } from '../../test/helpers/temp';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '15' },
    lists: { type: 'string', default: 'every100ms' },
    agent: { type: 'string' },
  },
});
const seconds = Number(values.seconds);

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
const agent = Bun.spawn([process.execPath, import.meta.path, '--agent', path, '--seconds', String(seconds)], { stdout: 'inherit', stderr: 'inherit' });
let lists = 0;
let longest = 0;
const timer = values.lists === 'none' ? null : setInterval(() => {
  const t0 = performance.now();
  void stateDb.keys().then(() => {
    longest = Math.max(longest, performance.now() - t0);
    lists++;
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
stateDb.close();
removeTempDirs();
console.log(`${count} sessions, lists ${values.lists} (${lists} answered, longest ${Math.round(longest)} ms): state.db-wal KiB each second: ${sizes.join(' ')}`);

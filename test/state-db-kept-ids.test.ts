/**
 * Pages of a state.db session's messages keep the session's visible ids between reads (on a v19 file
 * they are known only from every row of the session: `active`). They may be used only while nothing
 * was committed: the agent writes the file while the sidecar reads it, so each test commits through
 * the agent's own connection between reads — a new message, a rewind (an UPDATE that changes neither
 * the count nor the newest id), a delete — and checks every page against a fresh `ORDER BY id` read.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/log';
import { StateDb } from '../src/modules/sessions/state-db';
import { createStateDb, type StateDbFixture, type StateDbLayout } from './fixtures/state-db';
import { tempDir } from './helpers/temp';

const T0 = 1_780_000_000;

/** The page as an `ORDER BY id LIMIT/OFFSET` over the rows gives it: ids and total. */
function reference(fx: StateDbFixture, id: string, limit: number, offset: number) {
  const where = `session_id = ?${fx.layout === 'v19' ? ' AND active = 1' : ''}`;
  const total = (fx.db.query(`SELECT COUNT(*) AS n FROM messages WHERE ${where}`).get(id) as { n: number }).n;
  const ids = (fx.db.query(`SELECT id FROM messages WHERE ${where} ORDER BY id LIMIT ? OFFSET ?`).all(id, limit, offset) as { id: number }[]).map((r) => r.id);
  return { ids, total };
}

for (const layout of ['v6', 'v19'] as StateDbLayout[]) {
  describe(`kept message ids (${layout})`, () => {
    let dir: string;
    let fx: StateDbFixture;
    let db: StateDb;
    const page = (id: string, limit: number, offset: number) => {
      const p = db.messages(id, limit, offset);
      return { ids: p.items.map((m) => m.id), total: p.total };
    };

    beforeEach(() => {
      dir = tempDir();
      fx = createStateDb(dir, layout);
      fx.addSession({ id: 'long', started_at: T0 }, Array.from({ length: 300 }, (_, i) => ({ role: i % 2 ? 'assistant' as const : 'user' as const, content: `m${i}`, timestamp: T0 + i })));
      fx.addSession({ id: 'other', started_at: T0 }, [{ role: 'user', content: 'hi', timestamp: T0 }]);
      db = new StateDb(join(dir, 'state.db'), silentLogger);
    });
    afterEach(() => {
      db.close();
      fx.close();
    });

    test('paging through a session reads its ids once while nothing is committed', () => {
      for (const offset of [0, 50, 100, 250, 299, 400]) expect(page('long', 50, offset)).toEqual(reference(fx, 'long', 50, offset));
      expect(db.idReads).toBe(1);
      expect(page('other', 10, 0)).toEqual(reference(fx, 'other', 10, 0));
      expect(page('long', 10, 0)).toEqual(reference(fx, 'long', 10, 0));
      expect(db.idReads).toBe(2);
    });

    test('every commit of the agent between two pages shows on the next one', () => {
      const check = () => {
        for (const [limit, offset] of [[50, 0], [50, 250], [1000, 0]] as const) expect(page('long', limit, offset)).toEqual(reference(fx, 'long', limit, offset));
      };
      check();
      fx.addMessage('long', { role: 'user', content: 'appended', timestamp: T0 + 1000 });
      check();
      // A rewind: the newest messages are marked inactive in place (same count of rows, same newest id).
      if (layout === 'v19') {
        fx.db.run("UPDATE messages SET active = 0 WHERE session_id = 'long' AND id > (SELECT MAX(id) FROM messages WHERE session_id = 'long') - 20");
        check();
        expect(page('long', 1000, 0).total).toBe(282); // 301 − the 19 of its own among the newest 20 ids
        fx.db.run("UPDATE messages SET active = 1 WHERE session_id = 'long'");
        check();
      }
      fx.db.run("DELETE FROM messages WHERE session_id = 'long' AND id % 3 = 0");
      check();
      // A commit to another session only makes the ids be read again.
      const reads = db.idReads;
      fx.addMessage('other', { role: 'user', content: 'elsewhere', timestamp: T0 + 5 });
      check();
      expect(db.idReads).toBe(reads + 1);
      fx.db.run("DELETE FROM messages WHERE session_id = 'long'");
      expect(page('long', 50, 0)).toEqual({ ids: [], total: 0 });
    });

  });
}

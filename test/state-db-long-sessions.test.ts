/**
 * Reads of long sessions in the agent's state.db. Hermes' only index on `messages` is
 * (session_id, timestamp) and SPEC orders by id: `ORDER BY id` over the rows read and sorted a whole
 * session for each preview (every session shown, every fallback turn) and each page of messages. Bytes
 * the process reads (/proc/self/io `rchar`: SQLite reads the file with read(2)) tell what was read.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { makeTestApp, type TestApp } from './helpers/app';
import { createStateDb, multimodal, type FixtureMessage, type StateDbFixture, type StateDbLayout } from './fixtures/state-db';
import { decodeContent, parseToolCalls, previewOf } from '../src/modules/sessions/content';

const T0 = 1_780_000_000;
const LONG = 10_000;

type SessionBody = { session: { preview: string | null } };

const bytesRead = () => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);

/** Reads a page of messages and the preview the way they were read before (`ORDER BY id` over the rows): the reference. */
function reference(fx: StateDbFixture, id: string, limit: number, offset: number) {
  const active = fx.layout === 'v19' ? ' AND active = 1' : '';
  const reasoning = fx.layout === 'v19' ? 'reasoning' : 'NULL';
  const where = `session_id = ?${active}`;
  const total = (fx.db.query(`SELECT COUNT(*) AS n FROM messages WHERE ${where}`).get(id) as { n: number }).n;
  const rows = fx.db.query(
    `SELECT id, role, content, tool_calls, tool_call_id, tool_name, timestamp, ${reasoning} AS reasoning FROM messages WHERE ${where} ORDER BY id LIMIT ? OFFSET ?`,
  ).all(id, limit, offset) as Record<string, string | number | null>[];
  const items = rows.map((r) => ({ ...r, session_id: id, content: decodeContent(r.content), tool_calls: parseToolCalls(r.tool_calls) }));
  return { items, total, session_id: id };
}

function referencePreview(fx: StateDbFixture, id: string): string | null {
  const active = fx.layout === 'v19' ? ' AND active = 1' : '';
  const row = fx.db.query(`SELECT content FROM messages WHERE session_id = ? AND role = 'user' AND content IS NOT NULL${active} ORDER BY id LIMIT 1`).get(id) as { content: string } | null;
  return previewOf(row?.content);
}

/** `n` messages that are not a visible user message with content: tool, system and assistant turns, a user turn without content. */
const noUser = (n: number, at: number): FixtureMessage[] => Array.from({ length: n }, (_, i): FixtureMessage => {
  const role = (['system', 'assistant', 'tool', 'user'] as const)[i % 4]!;
  return { role, content: role === 'user' ? null : `${role} ${i}`, timestamp: at + i };
});

for (const layout of ['v6', 'v19'] as StateDbLayout[]) {
  describe(`long state.db sessions (${layout})`, () => {
    let t: TestApp;
    let fx: StateDbFixture;
    const shapes: Record<string, FixtureMessage[]> = {
      first: [{ role: 'user', content: '  first\n question  ', timestamp: T0 }, { role: 'assistant', content: 'a', timestamp: T0 + 1 }],
      after40: [...noUser(40, T0), { role: 'user', content: 'after forty', timestamp: T0 + 50 }],
      after300: [...noUser(300, T0), { role: 'user', content: multimodal([{ type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'after 300' }]), timestamp: T0 + 400 }],
      none: noUser(300, T0),
      at16: [...noUser(16, T0), { role: 'user', content: 'the seventeenth', timestamp: T0 + 20 }],
      at15: [...noUser(15, T0), { role: 'user', content: 'the sixteenth', timestamp: T0 + 20 }],
      blank: [{ role: 'user', content: '   ', timestamp: T0 }, { role: 'user', content: 'not this one', timestamp: T0 + 1 }],
      empty: [],
      rewound: [
        { role: 'user', content: 'rewound away', timestamp: T0, active: 0 },
        ...noUser(30, T0 + 1).map((m) => ({ ...m, active: 0 as const })),
        { role: 'user', content: 'what stayed', timestamp: T0 + 40 },
      ],
    };

    beforeAll(async () => {
      t = await makeTestApp();
      fx = createStateDb(t.home, layout);
      // Two sessions written at once, as a busy agent does: their ids interleave.
      fx.addSession({ id: 'long', started_at: T0 });
      fx.addSession({ id: 'other', started_at: T0 });
      fx.db.transaction(() => {
        for (let i = 0; i < LONG; i++) {
          const role = i === 0 ? 'system' : i % 2 ? 'user' : 'assistant';
          fx.addMessage('long', {
            role, timestamp: T0 + i, content: i % 7 === 3 ? multimodal([{ type: 'text', text: `#${i}` }]) : `#${i} ${'w'.repeat(2000)}`,
            tool_calls: i % 5 === 2 ? [{ id: `c${i}`, type: 'function', function: { name: 'f', arguments: '{}' } }] : i % 11 === 4 ? 'not json' : null,
            tool_call_id: i % 13 === 0 ? `c${i}` : null, tool_name: i % 13 === 0 ? 'f' : null, reasoning: i % 17 === 0 ? 'why' : null,
            active: i % 9 === 8 ? 0 : 1,
          });
          if (i % 3 === 0) fx.addMessage('other', { role: 'user', content: 'other', timestamp: T0 + i });
        }
      })();
      for (const [id, messages] of Object.entries(shapes)) fx.addSession({ id, started_at: T0 }, messages);
    }, 120_000);
    afterAll(() => {
      fx.close();
      t.close();
    });

    test('the preview reads a long session\'s first messages only, and is the first visible user message as before', async () => {
      await t.json('GET', '/api/sessions/long');
      const before = bytesRead();
      const res = await t.json('GET', '/api/sessions/long');
      const read = bytesRead() - before;
      expect(res.status).toBe(200);
      expect((res.body as SessionBody).session.preview).toBe(referencePreview(fx, 'long'));
      // The session's rows are ~20 MB; its index entries well under 1 MB.
      expect(read).toBeLessThan(4_000_000);
    });

    test('previews equal the first visible user message in every shape, on a session and on the list', async () => {
      const list = await t.json('GET', '/api/sessions?limit=50');
      const listed = new Map((list.body.items as { id: string; preview: string | null }[]).map((s) => [s.id, s.preview]));
      for (const id of [...Object.keys(shapes), 'long', 'other']) {
        const expected = referencePreview(fx, id);
        expect({ id, preview: ((await t.json('GET', `/api/sessions/${id}`)).body as SessionBody).session.preview }).toEqual({ id, preview: expected });
        expect({ id, preview: listed.get(id) }).toEqual({ id, preview: expected });
      }
      expect(listed.get('after300')).toBe('after 300');
      expect(listed.get('none')).toBeNull();
      expect(listed.get('blank')).toBeNull();
      expect(listed.get('rewound')).toBe(layout === 'v19' ? 'what stayed' : 'rewound away');
    });

    test('pages of messages are what ORDER BY id LIMIT/OFFSET gave, for many limits and offsets', async () => {
      const total = reference(fx, 'long', 1, 0).total;
      for (const limit of [1, 7, 1000]) {
        for (const offset of [0, 5, 4_999, total - 150, total - 1, total, total + 5]) {
          const res = await t.json('GET', `/api/sessions/long/messages?limit=${limit}&offset=${offset}`);
          expect({ limit, offset, body: res.body }).toEqual({ limit, offset, body: reference(fx, 'long', limit, offset) });
        }
      }
      for (const id of Object.keys(shapes)) {
        for (const [limit, offset] of [[100, 0], [3, 14], [1, 16], [50, 290]] as const) {
          expect((await t.json('GET', `/api/sessions/${id}/messages?limit=${limit}&offset=${offset}`)).body).toEqual(reference(fx, id, limit, offset));
        }
      }
    }, 120_000);

    // With `active`, every row is read to know which count (the total, the offset); without it, the index is enough.
    if (layout === 'v6') {
      test('a page of messages reads the index and the page\'s rows, not the session', async () => {
        for (const offset of [0, LONG / 2, LONG - 100]) {
          const before = bytesRead();
          const res = await t.json('GET', `/api/sessions/long/messages?limit=100&offset=${offset}`);
          const read = bytesRead() - before;
          expect(res.body.items).toHaveLength(100);
          expect({ offset, read: read < 4_000_000 }).toEqual({ offset, read: true });
        }
      });
    }
  });
}

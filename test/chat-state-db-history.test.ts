/**
 * A fallback turn on a session that lives in the agent's state.db sends the newest turns that fit in
 * one request. They are read from the newest message back, by id, only as far as the request goes:
 * read whole, every turn of a session of 50,000 messages took 4-6 s and ~400 MB.
 */
import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test';
import { appOn, lastRequest } from './helpers/fake-app';
import type { TestApp } from './helpers/app';
import { createStateDb, multimodal, type StateDbFixture, type StateDbLayout } from './fixtures/state-db';
import { startFakeHermes, type FakeHermes } from './fakes/hermes';

const text = (i: number) => `#${i} ${'w'.repeat(5000)}`;

for (const layout of ['v6', 'v19'] as StateDbLayout[]) {
  describe(`a long state.db session on the fallback (${layout})`, () => {
    let fake: FakeHermes;
    let t: TestApp;
    let fx: StateDbFixture;
    beforeAll(async () => {
      fake = await startFakeHermes({ version: '0.12' });
      fake.behavior.reply = () => 'ok';
      t = await appOn(fake);
      fx = createStateDb(t.home, layout);
      // 4,000 messages of 5 KB as content parts: 20 MB, twice what one request carries. Timestamps
      // run backwards (an imported session): the order is the ids', as Hermes reads it.
      fx.addSession({ id: 'years', started_at: 1_780_000_000 });
      fx.db.transaction(() => {
        for (let i = 0; i < 4000; i++) {
          fx.addMessage('years', { role: i % 2 ? 'assistant' : 'user', content: multimodal([{ type: 'text', text: text(i) }]), timestamp: 1_790_000_000 - i });
        }
        // Rewound by the agent (schemas with `active`): not part of the conversation.
        if (layout === 'v19') fx.addMessage('years', { role: 'assistant', content: 'rewound', timestamp: 1, active: 0 });
      })();
    });
    afterAll(async () => {
      fx.close();
      t.close();
      await fake.stop();
    });

    test('a turn reads the newest messages back only as far as the request goes, in id order', async () => {
      // Each stored message read is decoded (parsed) once: that counts the messages read.
      const parse = spyOn(JSON, 'parse');
      const res = await t.json('POST', '/api/sessions/years/chat', { message: 'and now?' });
      const decoded = parse.mock.calls.filter(([s]) => typeof s === 'string' && s.startsWith('[{"type":"text","text":"#')).length;
      parse.mockRestore();
      expect(res.status).toBe(200);
      const sent = JSON.parse(lastRequest(fake, '/v1/chat/completions').body).messages as { role: string; content: { text: string }[] | string }[];
      expect(sent.length).toBeGreaterThan(1800);
      expect(sent[0]?.role).toBe('user');
      const numbers = sent.slice(0, -1).map((m) => Number(/^#(\d+)/.exec((m.content as { text: string }[])[0]?.text ?? '')?.[1]));
      expect(numbers).toEqual(numbers.map((_, k) => 4000 - numbers.length + k));
      expect(sent.at(-1)).toEqual({ role: 'user', content: 'and now?' });
      // What was sent, and at most one page more: not the 2,000 older messages.
      expect(decoded).toBeLessThan(sent.length + 250);
    }, 120_000);
  });
}

/**
 * The merged session list while the agent writes: a session that exists the whole time must be
 * listed, whatever the agent does to other sessions while the sidecar reads its pages.
 */
import { describe, expect, test } from 'bun:test';
import type { TestApp } from './helpers/app';
import { useFakeHermes } from './helpers/fake-app';
import { sseEvents } from './helpers/sse-events';
import type { FakeHermes } from './fakes/hermes';

const T0 = 1_780_000_000;

describe('listing the upstream session API (Hermes 0.17, no state.db) while the agent writes', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  /** 450 sessions (three upstream pages), `u000` oldest; `write` runs as the sidecar asks for its second page. */
  async function listWhile(write: () => void) {
    for (let i = 0; i < 450; i++) fake.addSession({ id: `u${String(i).padStart(3, '0')}`, started_at: T0 + i, last_active: T0 + i });
    const push = fake.requests.push.bind(fake.requests);
    let written = false;
    fake.requests.push = (...reqs) => {
      const offset = new URLSearchParams(reqs[0]?.search ?? '').get('offset');
      if (!written && reqs[0]?.path === '/api/sessions' && offset !== null && offset !== '0') {
        written = true;
        write();
      }
      return push(...reqs);
    };
    const list = await t.json<{ items: { id: string }[]; total: number }>('GET', '/api/sessions?limit=500');
    expect(written).toBe(true);
    const listed = new Set(list.body.items.map((s) => s.id));
    return { total: list.body.total, missing: [...fake.sessions.keys()].filter((id) => !listed.has(id)) };
  }

  test('a session deleted between two upstream pages does not take another one off the list', async () => {
    // The delete moves every older session up by one: u249 went from the second page to the first, already read.
    const { missing } = await listWhile(() => fake.sessions.delete('u440'));
    expect(missing).toEqual([]);
  });

  test('a session that became the most recent between two upstream pages is listed', async () => {
    const { missing, total } = await listWhile(() => {
      fake.sessions.get('u100')!.last_active = T0 + 5000;
    });
    expect(missing).toEqual([]);
    expect(total).toBe(450);
  });
});

describe('titles set through the sidecar on the agent\'s sessions (Hermes 0.17, no state.db)', () => {
  let fake: FakeHermes;
  let t: TestApp;
  useFakeHermes('0.17', (f, app) => {
    fake = f;
    t = app;
  });

  test('a later rename on the agent\'s side shows, after a create with a title and after a PATCH', async () => {
    expect((await t.json('POST', '/api/sessions', { id: 'made', title: 'From JettChat' })).status).toBe(201);
    fake.addSession({ id: 'theirs', title: 'Original' });
    expect((await t.json('PATCH', '/api/sessions/theirs', { title: 'Renamed in JettChat' })).body).toMatchObject({ session: { title: 'Renamed in JettChat' } });
    // Hermes Workspace or `hermes sessions rename`, straight to the agent.
    fake.sessions.get('made')!.title = 'Renamed by the agent';
    fake.sessions.get('theirs')!.title = 'Renamed by the agent too';
    expect((await t.json('GET', '/api/sessions/made')).body).toMatchObject({ session: { title: 'Renamed by the agent' } });
    expect((await t.json('GET', '/api/sessions/theirs')).body).toMatchObject({ session: { title: 'Renamed by the agent too' } });
    const list = await t.json<{ items: { id: string; title: string }[] }>('GET', '/api/sessions');
    // Sorted by id: both may share a creation time on a busy machine, and the order is not what this is about.
    expect(list.body.items.map((s) => [s.id, s.title]).sort()).toEqual([['made', 'Renamed by the agent'], ['theirs', 'Renamed by the agent too']]);
  });

  test('… and after a new chat with a title the agent took', async () => {
    const res = await t.fetch('/api/sessions/new/chat/stream', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ session_id: 'chat', message: 'hi', title: 'Greeting' }),
    });
    expect((await sseEvents(res)).at(-1)?.event).toBe('done');
    expect(fake.sessions.get('chat')?.title).toBe('Greeting');
    fake.sessions.get('chat')!.title = 'Renamed by the agent';
    expect((await t.json('GET', '/api/sessions/chat')).body).toMatchObject({ session: { title: 'Renamed by the agent' } });
  });
});

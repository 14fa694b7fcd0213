/**
 * The size of a memory's metadata. It had no bound but the 1 MiB body: 60 memories with 60,000-key
 * metadata made a page of 100 a 53 MB answer (6.5 s, 590 MB more resident memory) and a search 14 s.
 * Metadata is now at most MAX_METADATA_CHARS characters as JSON; more is a 422 and stores nothing.
 */
import { afterEach, expect, test } from 'bun:test';
import { MAX_METADATA_CHARS } from '../src/modules/memory/model';
import { startFakeSpacetime, type FakeSpacetime } from './fakes/spacetimedb';
import { makeTestApp, type TestApp } from './helpers/app';

let t: TestApp | undefined;
let fake: FakeSpacetime | undefined;
afterEach(async () => {
  t?.close();
  await fake?.stop();
  fake = undefined;
});

/** Metadata whose JSON text is exactly `chars` characters long. */
function metadataOf(chars: number): Record<string, string> {
  const m = { k: '' };
  m.k = 'x'.repeat(chars - JSON.stringify(m).length);
  return m;
}

for (const backend of ['sqlite', 'holographic', 'spacetimedb'] as const) {
  test(`${backend}: metadata of ${MAX_METADATA_CHARS} characters is stored; one more, or 60,000 keys, is a 422`, async () => {
    let env: Record<string, string> = { MEMORY_BACKEND: backend };
    if (backend === 'spacetimedb') {
      fake = startFakeSpacetime();
      env = { ...env, MEMORY_DB_URL: fake.url, SPACETIMEDB_DB: fake.db, SPACETIMEDB_TIMEOUT_S: '2' };
    }
    t = await makeTestApp({ env });
    const many = Object.fromEntries(Array.from({ length: 60_000 }, (_, i) => [`k${i}`, i]));
    for (const metadata of [metadataOf(MAX_METADATA_CHARS + 1), many]) {
      const r = await t.json('POST', '/api/memory', { content: 'too much', metadata });
      expect(r.status).toBe(422);
      expect(JSON.stringify(r.body)).toContain(`at most ${MAX_METADATA_CHARS} characters as JSON`);
    }
    expect((await t.json<{ total: number }>('GET', '/api/memory')).body.total).toBe(0);
    const ok = await t.json<{ memory: { metadata: unknown } }>('POST', '/api/memory', { content: 'fits', metadata: metadataOf(MAX_METADATA_CHARS) });
    expect(ok.status).toBe(201);
    expect(JSON.stringify(ok.body.memory.metadata)).toHaveLength(MAX_METADATA_CHARS);
  });
}

for (const backend of ['sqlite', 'holographic'] as const) {
  test(`${backend}: a number in metadata that no double holds (1e400) is a 422, not stored as null`, async () => {
    t = await makeTestApp({ env: { MEMORY_BACKEND: backend } });
    // JSON.parse reads 1e400 as Infinity, which JSON.stringify writes as null: the value was changed without a word.
    for (const metadata of ['{"score":1e400}', '{"a":{"b":[1,-1e999]}}']) {
      const r = await t.fetch('/api/memory', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"content":"out of range","metadata":${metadata}}` });
      const body = (await r.json()) as { code: string; errors: { path: string; message: string }[] };
      expect([metadata, r.status, body.code, body.errors[0]?.path]).toEqual([metadata, 422, 'validation_error', 'metadata']);
      expect(body.errors[0]?.message).toContain('finite');
    }
    expect((await t.json<{ total: number }>('GET', '/api/memory')).body.total).toBe(0);
    const ok = await t.fetch('/api/memory', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"content":"in range","metadata":{"big":1.7976931348623157e308,"tiny":1e-400}}' });
    expect([ok.status, ((await ok.json()) as { memory: { metadata: unknown } }).memory.metadata]).toEqual([201, { big: 1.7976931348623157e308, tiny: 0 }]);
  });
}

/**
 * KeptReads (src/db/kept-reads.ts): results kept until the database is written, bounded in entries and,
 * for pages, in bytes. Counted by entries alone, 32 pages of 1,000 memories of up to 64 KiB each could
 * keep gigabytes in a process meant to run for months on a small device.
 */
import { expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import { KEPT_PAGE_BYTES, KeptReads, roughBytes } from '../src/db/kept-reads';
import { openDatabase } from '../src/db';
import { SqliteBackend } from '../src/modules/memory/sqlite-store';
import { tempDir } from './helpers/app';

test('roughBytes counts 2 bytes per UTF-16 unit of every string, at any depth', () => {
  const small = roughBytes({ items: [{ content: 'x' }], total: 1 });
  expect(roughBytes({ items: [{ content: 'x'.repeat(1001) }], total: 1 }) - small).toBe(2000);
});

test('entries past maxBytes are dropped oldest first; a value larger than maxBytes is not kept', () => {
  const kept = new KeptReads<string>(new Database(':memory:'), 32, 1000);
  const read = (v: string) => () => v;
  kept.get('a', read('a'.repeat(300)));
  kept.get('b', read('b'.repeat(300)));
  expect(kept.reads).toBe(2);
  kept.get('b', read('b'.repeat(300)));
  expect(kept.reads).toBe(2);
  // a (oldest) made room for b: read again.
  kept.get('a', read('a'.repeat(300)));
  expect(kept.reads).toBe(3);
  kept.get('big', read('c'.repeat(600)));
  kept.get('big', read('c'.repeat(600)));
  expect(kept.reads).toBe(5);
  // a is still kept: the big value took nothing.
  kept.get('a', read('a'.repeat(300)));
  expect(kept.reads).toBe(5);
});

test('a memory page larger than KEPT_PAGE_BYTES is read each time instead of kept', async () => {
  const store = new SqliteBackend(openDatabase(join(tempDir(), 'data')));
  const content = 'word '.repeat(12_000);
  for (let i = 0; i < 40; i++) await store.add({ content: `${i} ${content}`, category: 'general', tags: [], importance: 0.5, metadata: {} });
  expect(roughBytes((await store.list({ limit: 100, offset: 0 })).items)).toBeGreaterThan(KEPT_PAGE_BYTES);
  const reads = store.kept.pages.reads;
  await store.list({ limit: 100, offset: 0 });
  expect(store.kept.pages.reads).toBe(reads + 1);
  // An ordinary page is still kept.
  await store.list({ limit: 2, offset: 0 });
  await store.list({ limit: 2, offset: 0 });
  expect(store.kept.pages.reads).toBe(reads + 2);
});

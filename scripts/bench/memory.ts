/**
 * Memory backends at growing size: insert rate and search latency of the holographic backend
 * (Hermes' memory_store.db) and the sqlite backend (the sidecar's own database), measured through
 * MemoryService (validation, normalisation, the backend; no HTTP). One store per backend grows
 * through the sizes, so each size is measured on the same data a real store would hold.
 *
 *   bun scripts/bench/memory.ts                                  # 1,000 and 10,000 memories (~40 s)
 *   bun scripts/bench/memory.ts --sizes 1000,10000,100000        # the 100,000 run (~5 min)
 *   bun scripts/bench/memory.ts --backends sqlite --queries 500 --keep /tmp/memdb   # keeps the databases
 *
 * Data: sentences of 8–20 words drawn from a 5,000-word vocabulary with Zipf frequencies, a named
 * entity ("Alice Smith") in one memory of three, 8 categories, 0–3 of 50 tags. Queries: 2–3 words
 * from the same vocabulary, skipping the 50 most frequent words (which play the part of the stop
 * words a real query loses): the common case, not a worst case.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../../src/db';
import { HolographicBackend } from '../../src/modules/memory/holographic';
import { MemoryService } from '../../src/modules/memory/service';
import { SqliteBackend } from '../../src/modules/memory/sqlite-store';
import type { MemoryBackend } from '../../src/modules/memory/store';
import { fmt, percentile, report } from './lib';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000' },
    backends: { type: 'string', default: 'sqlite,holographic' },
    queries: { type: 'string', default: '300' },
    // Keep the databases in this folder (one subfolder per backend) for a look afterwards.
    keep: { type: 'string' },
  },
});
const sizes = values.sizes.split(',').map(Number).sort((a, b) => a - b);
const queries = Number(values.queries);

// Deterministic data: the same run on every machine.
let seed = 42;
const random = () => {
  seed = (seed * 1664525 + 1013904223) % 4294967296;
  return seed / 4294967296;
};
const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'pa', 'do', 'gu', 'he', 'ji', 'bo', 'fe'];
const VOCABULARY = Array.from({ length: 5000 }, (_, i) => {
  let w = '';
  for (let n = i + 17; n > 0; n = Math.floor(n / 16)) w += SYLLABLES[n % 16];
  return w;
});
const ZIPF_CDF = (() => {
  const weights = VOCABULARY.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  return weights.map((w) => (acc += w / total));
})();
function zipfWord(skipTop = 0): string {
  for (;;) {
    const r = random();
    let lo = 0;
    let hi = ZIPF_CDF.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((ZIPF_CDF[mid] as number) < r) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= skipTop) return VOCABULARY[lo] as string;
  }
}
const FIRST = ['Alice', 'Bob', 'Carol', 'Dmitri', 'Erin', 'Farah', 'Gus', 'Hana', 'Ivan', 'Jun'];
const LAST = ['Smith', 'Nakamura', 'Okafor', 'Silva', 'Kowalski', 'Haddad', 'Larsen', 'Moreau'];
const CATEGORIES = ['general', 'project', 'user_pref', 'tool', 'infra', 'people', 'process', 'notes'];
const TAGS = Array.from({ length: 50 }, (_, i) => `tag${i}`);

function memory(i: number) {
  const words = Array.from({ length: 8 + Math.floor(random() * 13) }, () => zipfWord());
  if (i % 3 === 0) words.splice(2, 0, `${pick(FIRST)} ${pick(LAST)}`);
  return {
    content: `${words.join(' ')} #${i}`,
    category: pick(CATEGORIES),
    tags: Array.from({ length: Math.floor(random() * 4) }, () => pick(TAGS)),
    importance: Math.round(random() * 10) / 10,
    metadata: {},
  };
}

interface Result {
  backend: string;
  size: number;
  insertPerS: number;
  searchP50: number;
  searchP95: number;
  searchP99: number;
  listP50: number;
  /** A search without words in one category (1 in 8 of the memories): its best memories. */
  browseP50: number;
  /** The same by one tag (1 in 33 of the memories carry each). */
  tagBrowseP50: number;
  /** GET stats right after a write (counted again) and with nothing changed since (kept counts). */
  statsAfterWrite: number;
  statsUnchanged: number;
  /**
   * A query of 64 Korean words and a Chinese one, which FTS5 cannot find inside a run of such text, so
   * every memory is scanned for them as substrings (was a timed test in test/i18n-memory.test.ts).
   */
  cjkP50: number;
}

const CJK_QUERY = `咖啡 ${Array.from({ length: 64 }, (_, i) => String.fromCharCode(0xac00 + i * 37, 0xac00 + i * 53)).join(' ')}`;

async function run(name: string, open: (dir: string) => { backend: MemoryBackend; close(): void }): Promise<Result[]> {
  const dir = values.keep ? join(values.keep, name) : mkdtempSync(join(tmpdir(), `bench-memory-${name}-`));
  mkdirSync(dir, { recursive: true });
  const { backend, close } = open(dir);
  const service = new MemoryService(backend);
  const out: Result[] = [];
  seed = 42;
  let count = 0;
  try {
    for (const size of sizes) {
      const started = performance.now();
      const from = count;
      for (; count < size; count++) await service.create(memory(count));
      const insertPerS = (size - from) / ((performance.now() - started) / 1000);
      const times: number[] = [];
      for (let q = 0; q < queries; q++) {
        const query = Array.from({ length: 2 + (q % 2) }, () => zipfWord(50)).join(' ');
        const t = performance.now();
        await service.search({ query, limit: 10 });
        times.push(performance.now() - t);
      }
      const lists: number[] = [];
      for (let q = 0; q < 50; q++) {
        const t = performance.now();
        await service.list({ limit: 100, offset: (q * 37) % Math.max(1, size - 100) });
        lists.push(performance.now() - t);
      }
      const browses: number[] = [];
      for (let q = 0; q < 50; q++) {
        const t = performance.now();
        await service.search({ query: '', limit: 10, filters: { category: CATEGORIES[q % CATEGORIES.length] } });
        browses.push(performance.now() - t);
      }
      const tagBrowses: number[] = [];
      for (let q = 0; q < 50; q++) {
        const t = performance.now();
        await service.search({ query: '', limit: 10, filters: { tags: [TAGS[q % TAGS.length] as string] } });
        tagBrowses.push(performance.now() - t);
      }
      const afterWrite: number[] = [];
      const unchanged: number[] = [];
      for (let q = 0; q < 5; q++) {
        await service.create(memory(count++));
        let t = performance.now();
        await service.stats();
        afterWrite.push(performance.now() - t);
        t = performance.now();
        await service.stats();
        unchanged.push(performance.now() - t);
      }
      const cjk: number[] = [];
      for (let q = 0; q < 10; q++) {
        const t = performance.now();
        await service.search({ query: CJK_QUERY, limit: 5 });
        cjk.push(performance.now() - t);
      }
      const r = {
        backend: name, size, insertPerS, searchP50: percentile(times, 50), searchP95: percentile(times, 95), searchP99: percentile(times, 99), listP50: percentile(lists, 50), browseP50: percentile(browses, 50), tagBrowseP50: percentile(tagBrowses, 50),
        statsAfterWrite: percentile(afterWrite, 50), statsUnchanged: percentile(unchanged, 50), cjkP50: percentile(cjk, 50),
      };
      out.push(r);
      console.log(
        `${name.padEnd(12)} ${size.toString().padStart(7)} memories  insert ${fmt(insertPerS, 0).padStart(6)}/s (from ${from})  search p50 ${fmt(r.searchP50)} ms  p95 ${fmt(r.searchP95)} ms  p99 ${fmt(r.searchP99)} ms  list p50 ${fmt(r.listP50)} ms  category browse p50 ${fmt(r.browseP50)} ms  tag browse p50 ${fmt(r.tagBrowseP50)} ms  stats ${fmt(r.statsAfterWrite)} ms after a write, ${fmt(r.statsUnchanged)} ms unchanged  64 CJK words p50 ${fmt(r.cjkP50)} ms`,
      );
    }
  } finally {
    close();
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const OPENERS: Record<string, (dir: string) => { backend: MemoryBackend; close(): void }> = {
  sqlite: (dir) => {
    const db = openDatabase(join(dir, 'data'));
    return { backend: new SqliteBackend(db), close: () => db.close() };
  },
  holographic: (dir) => {
    const db = openDatabase(join(dir, 'data'));
    const backend = new HolographicBackend(join(dir, 'memory_store.db'), db);
    return { backend, close: () => (backend.close(), db.close()) };
  },
};

console.log(`memory backends: sizes ${sizes.join(', ')}, ${queries} searches per size (limit 10), 50 list pages`);
const TARGETS: Record<string, { search: number; insert: number }> = { sqlite: { search: 5, insert: 2000 }, holographic: { search: 15, insert: 500 } };
for (const name of values.backends.split(',')) {
  const open = OPENERS[name];
  if (!open) throw new Error(`unknown backend ${name}`);
  const results = await run(name, open);
  const last = results[results.length - 1] as Result;
  const target = TARGETS[name] as { search: number; insert: number };
  console.log(`${name.padEnd(12)} at ${last.size}: search p50 ${fmt(last.searchP50)} ms (target < ${target.search}), insert ${fmt(last.insertPerS, 0)}/s (target ≥ ${target.insert})`);
  report({ area: 'memory', metric: `${name} insert/s at ${results.map((r) => r.size).join(' / ')}`, value: results.map((r) => fmt(r.insertPerS, 0)).join(' / '), target: `≥ ${target.insert}/s at the largest`, ok: last.insertPerS >= target.insert });
  report({ area: 'memory', metric: `${name} stats at ${last.size}: after a write / nothing changed since`, value: `${fmt(last.statsAfterWrite)} / ${fmt(last.statsUnchanged)} ms` });
  report({ area: 'memory', metric: `${name} search of 64 CJK words p50 at ${results.map((r) => r.size).join(' / ')}`, value: `${results.map((r) => fmt(r.cjkP50)).join(' / ')} ms` });
  report({ area: 'memory', metric: `${name} search p50 at ${results.map((r) => r.size).join(' / ')}`, value: `${results.map((r) => fmt(r.searchP50)).join(' / ')} ms`, target: `< ${target.search} ms at the largest`, ok: last.searchP50 < target.search });
}

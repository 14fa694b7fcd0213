/**
 * Peak RSS of the memory search's substring scan (MEMORY_BACKEND=sqlite) over memories at the content
 * limit (65,536 characters each): the scan must hold one row at a time, so the growth stays at
 * SQLite's page cache and mmap (256 MiB) whatever the number of rows. Not part of `bun run bench`
 * (it writes ~64 KiB per row: 12,000 rows are ~800 MB of temp files).
 *
 *   bun scripts/bench/substring-scan-memory.ts --size 12000
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeTestApp, tempDir } from '../../test/helpers/app';

const { values } = parseArgs({ options: { size: { type: 'string', default: '6000' } } });
const size = Number(values.size);
const dir = tempDir();
const home = join(dir, 'home');
mkdirSync(home, { recursive: true });
const t = await makeTestApp({ env: { HERMES_HOME: home, MEMORY_BACKEND: 'sqlite' } });
try {
  const insert = t.deps.db.sqlite.query('INSERT INTO memories (id, content, content_sha256, category, tags, importance, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  t.deps.db.sqlite.transaction(() => {
    for (let i = 0; i < size; i++) {
      const at = new Date(1.7e12 + i * 1000).toISOString();
      insert.run(`mem_${i}`, `${i} ${'x'.repeat(65_530)}`, String(i), 'general', '[]', 0.5, '{}', at, at);
    }
  })();
  Bun.gc(true);
  // 64 Korean words: more spellings than the SQL prefilter takes, so every row reaches the scan.
  const query = `咖啡 ${Array.from({ length: 64 }, (_, i) => String.fromCharCode(0xac00 + i * 37, 0xac00 + i * 53)).join(' ')}`;
  const before = process.resourceUsage().maxRSS / 1024;
  for (let r = 0; r < 3; r++) {
    const res = await t.fetch('/api/memory/search', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, limit: 5 }) });
    if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  }
  const peak = process.resourceUsage().maxRSS / 1024;
  console.log(`${size} memories of 65,536 characters: peak RSS ${before.toFixed(0)} MB before the searches, ${peak.toFixed(0)} MB after (+${(peak - before).toFixed(0)} MB)`);
} finally {
  t.close();
  rmSync(dir, { recursive: true, force: true });
}

/**
 * MEMORY_BACKEND=holographic: the reads that touch every fact (a browse, the stats) go through a
 * ReadLine that pauses after each read so the agent's checkpoint can pass (src/db/shared-reads.ts).
 * The pause is only needed after a commit: a read of a file nobody committed to since the last read
 * began starts at once. The line's clock is moved by hand, so these check which pause was asked for,
 * not how long anything took.
 */
import { afterEach, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../src/db';
import { HolographicBackend } from '../src/modules/memory/holographic';
import { agentAddFact, openAsAgent } from './fakes/hermes-memory-agent';
import { handLineClock } from './helpers/hand-clock';
import { tempDir } from './helpers/temp';

const open: { close(): void }[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of open.splice(0).reverse()) c.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setUp() {
  const dir = tempDir();
  dirs.push(dir);
  const path = join(dir, 'memory_store.db');
  const agent = openAsAgent(path);
  open.push(agent);
  for (let i = 0; i < 30; i++) agentAddFact(agent, { content: `fact ${i}`, category: i % 2 ? 'tool' : 'general', tags: i % 3 ? 'tag7' : 'x', vector: null });
  const clock = handLineClock();
  const own = openDatabase(':memory:');
  const backend = new HolographicBackend(path, own, { factSlice: 4, lineClock: clock });
  open.push(own, backend);
  /** A read the line times as 100 ms long: the clock moves while it runs. */
  const timed = async <T>(read: Promise<T>): Promise<T> => {
    clock.ms += 100;
    return read;
  };
  return { agent, backend, clock, timed };
}

test('two different browses back to back, nothing committed between: the second is not paused', async () => {
  const { backend, clock, timed } = setUp();
  const byTag = await timed(backend.search({ query: '', limit: 5, filters: { tags: ['tag7'] } }));
  const byCategory = await backend.search({ query: '', limit: 5, filters: { category: 'tool' } });
  const stats = await backend.stats();
  expect(clock.slept).toEqual([]);
  expect(byTag.total).toBe(20);
  expect(byCategory.total).toBe(15);
  expect(stats.total_memories).toBe(30);
});

test('an agent commit between two browses keeps the pause after the first', async () => {
  const { agent, backend, clock, timed } = setUp();
  await timed(backend.search({ query: '', limit: 5, filters: { tags: ['tag7'] } }));
  agentAddFact(agent, { content: 'late', category: 'tool', vector: null });
  const byCategory = await backend.search({ query: '', limit: 5, filters: { category: 'tool' } });
  expect(clock.slept).toEqual([100]);
  expect(byCategory.total).toBe(16);
});

test('a write of our own between two browses keeps the pause too (its commit checkpoints as well)', async () => {
  const { backend, clock, timed } = setUp();
  await timed(backend.search({ query: '', limit: 5, filters: { tags: ['tag7'] } }));
  await backend.add({ content: 'ours', category: 'tool', tags: [], importance: 0.5, metadata: {} });
  await backend.search({ query: '', limit: 5, filters: { category: 'tool' } });
  expect(clock.slept).toEqual([100]);
});

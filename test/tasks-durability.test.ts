/**
 * Acknowledged task writes survive kill -9: the real executable answers a claim or completion only
 * after the (group) transaction holding it has committed, so whatever it answered 200 is in the
 * database after the process is killed mid-load.
 */
import { expect, test } from 'bun:test';
import { join } from 'node:path';
import { openDatabase } from '../src/db';
import { ensureBinary, startBinary } from './helpers/binary';
import { tempDir } from './helpers/app';

test('claims and completions answered 200 are all there after kill -9 under load', async () => {
  const binary = await ensureBinary();
  const dir = tempDir('optx-kill-');
  const dataDir = join(dir, 'data');
  const run = await startBinary(binary, { HERMES_HOME: join(dir, 'home'), OPTX_DATA_DIR: dataDir, HERMES_AGENT_URL: 'http://127.0.0.1:9' });
  const post = (path: string, body: unknown) => fetch(run.base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const ids: string[] = [];
  for (let i = 0; i < 300; i++) ids.push(((await (await post('/api/tasks', { title: `t${i}` })).json()) as { task_id: string }).task_id);

  const claimed = new Map<string, string>();
  const completed = new Set<string>();
  let killed = false;
  const work = ids.map(async (id, i) => {
    try {
      const agent = `agent-${i % 16}`;
      if ((await post(`/api/tasks/${id}/claim`, { agent_name: agent })).status !== 200) return;
      claimed.set(id, agent);
      if ((await post(`/api/tasks/${id}/complete`, { agent_name: agent, result: i })).status === 200) completed.add(id);
    } catch {
      // the connection died with the process: not acknowledged
    }
    if (!killed && completed.size >= 60) {
      killed = true;
      run.proc.kill('SIGKILL');
    }
  });
  await Promise.all(work);
  await run.proc.exited;
  expect(killed).toBe(true);
  expect(claimed.size).toBeGreaterThan(0);

  const db = openDatabase(dataDir);
  try {
    const rows = new Map(db.sqlite.query<{ task_id: string; status: string; agent: string | null }, []>('SELECT task_id, status, agent FROM tasks').all().map((r) => [r.task_id, r]));
    expect(rows.size).toBe(300);
    for (const [id, agent] of claimed) {
      const row = rows.get(id)!;
      expect([id, row.agent]).toEqual([id, agent]);
      expect(['InProgress', 'Completed']).toContain(row.status);
    }
    for (const id of completed) expect(rows.get(id)!.status).toBe('Completed');
  } finally {
    db.close();
  }
}, 120_000);

/**
 * The task and step rows of `memory_entry` as the SpacetimeDB task store reads and writes them: the
 * SQL lives here, and so does which task rows exist as far as the API is concerned. A swarm subtask
 * whose root row is missing belongs to a swarm still being written, or to one whose creation failed
 * (spacetime-create.ts): every read here leaves it out, so it is not listed, counted, gettable,
 * claimable, nor anyone's dependency, on any sidecar.
 */
import type { Logger } from '../../lib/log';
import type { SpacetimeClient } from '../../spacetime/client';
import { literal } from '../../spacetime/sql';
import { isCommitted, parseSteps, parseTaskRows, SOURCE, stepCategory, swarmOfRoot, swarmRootOf, TASK_CATEGORY, taskKey, type Step, type StoredTask } from './spacetime-rows';

const KEYS_PER_QUERY = 50;
/** Bound of the roots remembered; past it the memory starts over (a root is then read once more). */
const KNOWN_ROOTS_MAX = 10_000;

export class TaskTable {
  /**
   * Swarm roots seen, root id → swarm id. The sidecar never deletes a root row (a failed swarm
   * creation removes only subtasks, a cancelled root keeps its row), so a root seen stays committed.
   */
  private readonly knownRoots = new Map<string, string>();

  constructor(
    readonly stdb: SpacetimeClient,
    private readonly log: Logger,
  ) {}

  /** Writes (upserts) a task row. */
  write(t: StoredTask): Promise<void> {
    return this.stdb.call('store_memory', [TASK_CATEGORY, taskKey(t.task_id), JSON.stringify(t), SOURCE, t.assigned_agent ?? t.agent ?? '', t.priority, '']);
  }

  /** The committed row of task `id` with its step rows, or null. */
  async read(id: string): Promise<{ row: StoredTask; steps: Step[] } | null> {
    const [rows, steps] = await Promise.all([this.stdb.sql(`SELECT key, value FROM memory_entry WHERE key = ${literal(taskKey(id))}`), this.steps(id)]);
    const [row] = await this.committed(parseTaskRows(rows));
    return row ? { row, steps } : null;
  }

  async steps(id: string): Promise<Step[]> {
    return parseSteps(await this.stdb.sql(`SELECT id, key, value FROM memory_entry WHERE category = ${literal(stepCategory(id))}`), id);
  }

  /** The step rows of several tasks, by task id: one SQL read per KEYS_PER_QUERY tasks. */
  async stepsOf(ids: string[]): Promise<Map<string, Step[]>> {
    const rows = await this.rowsWhereAny('id, key, value', ids, (id) => `category = ${literal(stepCategory(id))}`);
    // parseSteps keeps the rows whose key names that task.
    return new Map(ids.map((id) => [id, parseSteps(rows, id)]));
  }

  /** The committed task rows among `ids`. */
  async byIds(ids: string[]): Promise<StoredTask[]> {
    return this.committed(await this.rowsByIds(ids));
  }

  /**
   * Every task row in one SQL read: the committed ones with their row id (`seq`, creation order),
   * and the uncommitted swarm subtasks apart. A subtask whose root row is there but cannot be read
   * (a newer sidecar's status, another writer's time) is in neither: not shown, and not swept as a
   * failed swarm's leftover (that deleted every subtask of such a swarm a day after its creation).
   */
  async all(): Promise<{ committed: (StoredTask & { seq: number })[]; uncommitted: StoredTask[] }> {
    const rows = await this.stdb.sql(`SELECT id, key, value FROM memory_entry WHERE category = ${literal(TASK_CATEGORY)}`);
    const seq = new Map(rows.map((r) => [r.key, Number(r.id)]));
    const tasks = parseTaskRows(rows);
    const rootSwarm = this.rootSwarms(tasks);
    const out = { committed: [] as (StoredTask & { seq: number })[], uncommitted: [] as StoredTask[] };
    for (const t of tasks) {
      const root = swarmRootOf(t);
      if (isCommitted(t, rootSwarm)) out.committed.push({ ...t, seq: seq.get(taskKey(t.task_id)) as number });
      else if (root !== null && !seq.has(taskKey(root))) out.uncommitted.push(t);
    }
    return out;
  }

  /**
   * Deletes the rows of tasks that never became visible: their task rows and any step rows (the API
   * refuses to claim an uncommitted task, so there are none unless a sidecar of an older version
   * claimed one). Best effort, every key tried: deleting a key that was never written does nothing.
   * Never throws; what could not be deleted stays invisible and is swept later.
   */
  async purge(ids: string[]): Promise<void> {
    if (!ids.length) return;
    const steps = await this.stepKeys(ids).catch(() => [] as string[]);
    const keys = [...steps, ...ids.map(taskKey)];
    const results = await Promise.allSettled(keys.map((k) => this.stdb.call('delete_memory', [k])));
    const failed = keys.filter((_, i) => results[i]?.status === 'rejected');
    if (failed.length) this.log.warn('tasks: could not delete rows of an uncommitted swarm; they stay invisible until swept', { failed: failed.length, keys: failed.slice(0, 5) });
  }

  private async rowsByIds(ids: string[]): Promise<StoredTask[]> {
    return parseTaskRows(await this.rowsWhereAny('key, value', ids, (id) => `key = ${literal(taskKey(id))}`));
  }

  private async stepKeys(ids: string[]): Promise<string[]> {
    return (await this.rowsWhereAny('key', ids, (id) => `category = ${literal(stepCategory(id))}`)).map((r) => String(r.key));
  }

  /** The rows matching `condition` of any of `ids`, one SQL read per KEYS_PER_QUERY ids, in turn. */
  private async rowsWhereAny(columns: string, ids: string[], condition: (id: string) => string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (let i = 0; i < ids.length; i += KEYS_PER_QUERY) {
      const where = ids.slice(i, i + KEYS_PER_QUERY).map(condition).join(' OR ');
      out.push(...(await this.stdb.sql(`SELECT ${columns} FROM memory_entry WHERE ${where}`)));
    }
    return out;
  }

  /** `rows` without the uncommitted subtasks; reads the roots not among them and not known yet. */
  private async committed(rows: StoredTask[]): Promise<StoredTask[]> {
    const inRows = new Set(rows.map((t) => t.task_id));
    const unknown = [...new Set(rows.map(swarmRootOf))].filter((r): r is string => r !== null && !inRows.has(r) && !this.knownRoots.has(r));
    const rootSwarm = this.rootSwarms([...rows, ...(await this.rowsByIds(unknown))]);
    return rows.filter((t) => isCommitted(t, rootSwarm));
  }

  /** Remembers the roots among `rows`; answers for those and for every root known before. */
  private rootSwarms(rows: StoredTask[]): (id: string) => string | undefined {
    if (this.knownRoots.size > KNOWN_ROOTS_MAX) this.knownRoots.clear();
    for (const t of rows) {
      const swarm = swarmOfRoot(t);
      if (swarm !== undefined) this.knownRoots.set(t.task_id, swarm);
    }
    return (id) => this.knownRoots.get(id);
  }
}

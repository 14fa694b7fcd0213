/**
 * Dependencies inside a swarm plan: references by index, id or title resolved to indices, then the
 * graph checked (no self-dependency, no cycle) and put in an order where every task comes after
 * the tasks it depends on — the order in which the stores create them.
 */
import type { FieldError } from '../../lib/errors';

export type Ref = number | string;

export interface PlanItem {
  /** The plan's own id for the item (LLM plans); explicit subtasks have none. */
  id?: string;
  title: string;
  depends_on: Ref[];
}

/**
 * Numbers are ids when an item has that id (plans numbering their steps), else 0-based indices;
 * strings are ids (when items have them) or titles. A title or id shared by several items is
 * ambiguous (an LLM plan that numbers two steps alike: either could be meant).
 * Duplicates collapse; an item naming itself is an error.
 */
export function resolveDependencies(items: PlanItem[], field = 'subtasks'): { deps: number[][]; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const byId = new Map<string, number[]>();
  const byTitle = new Map<string, number[]>();
  items.forEach((item, i) => {
    if (item.id !== undefined) byId.set(item.id, [...(byId.get(item.id) ?? []), i]);
    byTitle.set(item.title, [...(byTitle.get(item.title) ?? []), i]);
  });
  const deps = items.map((item, i) => {
    const out = new Set<number>();
    item.depends_on.forEach((ref, j) => {
      const path = `${field}.${i}.depends_on.${j}`;
      const ids = byId.get(String(ref));
      // A plan whose ids are numbers refers to them by number: the id wins over the position.
      const index = typeof ref === 'number' && Number.isInteger(ref) && ref >= 0 && ref < items.length ? [ref] : [];
      const matches = ids ?? (typeof ref === 'number' ? index : (byTitle.get(ref) ?? []));
      if (matches.length > 1) {
        errors.push({ path, message: `${ids ? 'id' : 'title'} ${JSON.stringify(ref)} names ${matches.length} subtasks; refer by index` });
        return;
      }
      const target = matches[0];
      if (target === undefined) errors.push({ path, message: `no subtask ${JSON.stringify(ref)}` });
      else if (target === i) errors.push({ path, message: 'a subtask cannot depend on itself' });
      else out.add(target);
    });
    return [...out];
  });
  return { deps, errors };
}

/** Indices in dependency order (Kahn's algorithm, stable), or the members of a cycle. */
export function topologicalOrder(deps: number[][]): { order: number[] } | { cycle: number[] } {
  const waiting = deps.map((d) => d.length);
  const dependents: number[][] = deps.map(() => []);
  deps.forEach((ds, i) => ds.forEach((d) => dependents[d]?.push(i)));
  const ready = waiting.flatMap((n, i) => (n === 0 ? [i] : []));
  const order: number[] = [];
  for (let k = 0; k < ready.length; k++) {
    const i = ready[k] as number;
    order.push(i);
    for (const j of dependents[i] ?? []) if (--(waiting[j] as number) === 0) ready.push(j);
  }
  if (order.length === deps.length) return { order };
  return { cycle: findCycle(deps, new Set(order)) };
}

/** One cycle among the nodes Kahn's algorithm could not order (each of them waits on another). */
function findCycle(deps: number[][], ordered: Set<number>): number[] {
  let node = deps.findIndex((_, i) => !ordered.has(i));
  const seen = new Map<number, number>();
  const path: number[] = [];
  while (!seen.has(node)) {
    seen.set(node, path.length);
    path.push(node);
    node = (deps[node] ?? []).find((d) => !ordered.has(d)) as number;
  }
  return path.slice(seen.get(node));
}

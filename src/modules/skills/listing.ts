/**
 * What a listing makes of the index's records for one query: the summaries a route shows and the page
 * of them the filters leave. Pure: service.ts keeps the records up to date with the disk.
 */
import { foldKey } from '../../lib/text';
import type { SkillsQuery, SkillSummary } from './model';
import type { SkillRecord } from './scan';

export function summary(r: SkillRecord, disabled: ReadonlySet<string>): SkillSummary {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    category: r.category,
    tags: r.tags,
    version: r.version,
    author: r.author,
    platforms: r.platforms,
    path: r.path,
    source: r.source,
    installed: true,
    enabled: !disabled.has(r.name),
    ...(r.error ? { error: r.error } : {}),
  };
}

/** The summaries (one per record, in the same order) that match the filters, and the page of them the query asks for. */
export function page(records: readonly SkillRecord[], summaries: SkillSummary[], q: SkillsQuery): { skills: SkillSummary[]; total: number } {
  // Folded as the index folds names (foldKey): NFD folder names, accents, full-width letters.
  const category = q.category === undefined ? undefined : foldKey(q.category);
  const tag = q.tag === undefined ? undefined : foldKey(q.tag);
  const search = q.search === undefined ? undefined : foldKey(q.search);
  let matches: SkillSummary[] = summaries;
  if (category || tag || search) {
    matches = [];
    records.forEach((r, i) => {
      if (category && r.categoryKey !== category) return;
      if (tag && !r.tagKeys.includes(tag)) return;
      if (search && !r.searchKeys.some((k) => k.includes(search))) return;
      matches.push(summaries[i] as SkillSummary);
    });
  }
  const skills = q.limit === undefined && !q.offset ? matches : matches.slice(q.offset, q.limit === undefined ? undefined : q.offset + q.limit);
  return { skills, total: matches.length };
}

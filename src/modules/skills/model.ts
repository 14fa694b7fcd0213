import { JsonObject } from '../../lib/api-schemas';
import { queryInt, z } from '../../lib/zod';

export const SkillSummary = z.object({
  id: z.string().check(z.meta({ description: 'Opaque, URL-safe and stable: the folder path below its root, escaped (see docs/skills-config.md)' })),
  name: z.string(),
  description: z.string(),
  category: z.nullable(z.string()),
  tags: z.array(z.string()),
  version: z.nullable(z.string()),
  author: z.nullable(z.string()),
  platforms: z.array(z.string()),
  path: z.string().check(z.meta({ description: 'Absolute path of the SKILL.md file' })),
  source: z.enum(['local', 'external']),
  installed: z.literal(true),
  enabled: z.boolean().check(z.meta({ description: 'false when the name is in skills.disabled' })),
  error: z.optional(z.literal('parse_failed')).check(z.meta({ description: 'Present when SKILL.md cannot be read or its frontmatter does not parse' })),
});
export type SkillSummary = z.infer<typeof SkillSummary>;

/** Checks by hand, for the listing (below) and the saved index's rows (saved.ts). */
export const isString = (v: unknown): v is string => typeof v === 'string';
export const isNullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';
export const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/**
 * A summary checked by hand: a listing has thousands, and zod took 37 ms for 2,000 summaries in a new
 * process (~4 ms once compiled), more than the rest of a listing from the saved index.
 * test/skills-shape.test.ts holds this check to the schema.
 */
const isSkillSummary = (v: unknown): boolean => {
  if (!v || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  return isString(r.id) && isString(r.name) && isString(r.description) && isNullableString(r.category) && isStrings(r.tags) &&
    isNullableString(r.version) && isNullableString(r.author) && isStrings(r.platforms) && isString(r.path) &&
    (r.source === 'local' || r.source === 'external') && r.installed === true && typeof r.enabled === 'boolean' &&
    (r.error === undefined || r.error === 'parse_failed');
};

export const SkillDetail = z.extend(SkillSummary, {
  frontmatter: z.nullable(JsonObject).check(z.meta({ description: 'The YAML frontmatter as parsed, every key kept; null when the file is broken' })),
  content: z.string().check(z.meta({ description: 'The whole SKILL.md file' })),
});
export type SkillDetail = z.infer<typeof SkillDetail>;

const filter = z.optional(z.string().check(z.maxLength(256)));

export const SkillsQuery = z.object({
  category: filter.check(z.meta({ description: 'Exact category, case-insensitive' })),
  search: filter.check(z.meta({ description: 'Substring of name, description or a tag, case-insensitive' })),
  tag: filter.check(z.meta({ description: 'Exact tag, case-insensitive' })),
  limit: z.optional(queryInt(1, 10_000)),
  offset: z._default(queryInt(0, Number.MAX_SAFE_INTEGER), 0),
});
export type SkillsQuery = z.infer<typeof SkillsQuery>;

export const SkillsList = z.object({
  skills: z.array(SkillSummary),
  total: z.number().check(z.int(), z.meta({ description: 'Number of matches before limit/offset' })),
  categories: z.array(z.string()).check(z.meta({ description: 'Every category of the tree, whatever the filters' })),
  warnings: z.optional(z.array(z.string())).check(z.meta({ description: 'Roots that could not be read, or a config.yaml that does not parse' })),
});
export type SkillsList = z.infer<typeof SkillsList>;

/** Whether a listing fits SkillsList, by hand (see isSkillSummary); only then may it skip zod. */
export const isSkillsList = (b: SkillsList): boolean =>
  Number.isSafeInteger(b.total) && isStrings(b.categories) && (b.warnings === undefined || isStrings(b.warnings)) && Array.isArray(b.skills) && b.skills.every(isSkillSummary);

// No length bound: an id that names no skill is a 404 (SPEC §8); it is only looked up in the index.
export const SkillParams = z.object({ id: z.string().check(z.minLength(1)) });

export { ErrorBody } from '../../lib/api-schemas';

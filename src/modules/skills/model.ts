import { z } from 'zod';

export const SkillSummary = z.object({
  id: z.string().meta({ description: 'Opaque, URL-safe and stable: the folder path below its root, escaped (see docs/skills-config.md)' }),
  name: z.string(),
  description: z.string(),
  category: z.string().nullable(),
  tags: z.array(z.string()),
  version: z.string().nullable(),
  author: z.string().nullable(),
  platforms: z.array(z.string()),
  path: z.string().meta({ description: 'Absolute path of the SKILL.md file' }),
  source: z.enum(['local', 'external']),
  installed: z.literal(true),
  enabled: z.boolean().meta({ description: 'false when the name is in skills.disabled' }),
  error: z.literal('parse_failed').optional().meta({ description: 'Present when SKILL.md cannot be read or its frontmatter does not parse' }),
});
export type SkillSummary = z.infer<typeof SkillSummary>;

export const SkillDetail = SkillSummary.extend({
  frontmatter: z.record(z.string(), z.unknown()).nullable(),
  content: z.string().meta({ description: 'The whole SKILL.md file' }),
});
export type SkillDetail = z.infer<typeof SkillDetail>;

const filter = z.string().max(256).optional();

export const SkillsQuery = z.object({
  category: filter.meta({ description: 'Exact category, case-insensitive' }),
  search: filter.meta({ description: 'Substring of name, description or a tag, case-insensitive' }),
  tag: filter.meta({ description: 'Exact tag, case-insensitive' }),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  offset: z.coerce.number().int().min(0).default(0),
});
export type SkillsQuery = z.infer<typeof SkillsQuery>;

export const SkillsList = z.object({
  skills: z.array(SkillSummary),
  total: z.number().int().meta({ description: 'Number of matches before limit/offset' }),
  categories: z.array(z.string()).meta({ description: 'Every category of the tree, whatever the filters' }),
  warnings: z.array(z.string()).optional().meta({ description: 'Roots that could not be read, or a config.yaml that does not parse' }),
});

export const SkillParams = z.object({ id: z.string().min(1).max(4096) });

export const ErrorBody = z.object({ detail: z.string(), code: z.string() });

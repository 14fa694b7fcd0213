import { Counts, JsonObject } from '../../lib/api-schemas';
import { ClientTime, finiteNumbers, queryInt, wellFormed, z } from '../../lib/zod';
import { pyStrip } from './pytext';

const MAX_CONTENT_CHARS = 65_536;
const MAX_QUERY_CHARS = 65_536;
const MAX_TAGS = 32;

// C0/C1 controls other than tab, LF, CR; lone surrogates (not text, and not storable as UTF-8) are refused too.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** A short label: category or tag. Trimmed by the service; commas are refused because Hermes stores tags comma-separated. */
const label = (what: string) =>
  z.string().check(
    z.refine((s) => s.trim().length > 0, { error: `${what} must not be empty` }),
    // Counted as stored (trimmed) and as content is counted (code points): `s.length` refused 40 emoji and padding around 64 letters.
    z.refine((s) => codePoints(s.trim()) <= 64, { error: `${what} must be at most 64 characters` }),
    z.refine((s) => !CONTROL.test(s) && s.isWellFormed(), { error: `${what} must not contain control characters` }),
  );

const Category = label('category');
const Tag = label('tag').check(z.refine((s) => !s.includes(','), { error: 'a tag must not contain a comma' }), z.describe('1..64 characters, no comma'));

// Stripped the way Hermes strips content before storing it (Python's whitespace, not JavaScript's).
const Content = z.string().check(
  z.refine((s) => pyStrip(s).length > 0, { error: 'content must not be empty' }),
  z.refine((s) => codePoints(pyStrip(s)) <= MAX_CONTENT_CHARS, { error: `content must be at most ${MAX_CONTENT_CHARS} characters` }),
  wellFormed('content must be valid Unicode text (no lone surrogates)'),
  z.describe(`1..${MAX_CONTENT_CHARS} characters (code points) after stripping surrounding whitespace`),
);

const Importance = z.number().check(z.gte(0), z.lte(1), z.describe('0..1; SpacetimeDB keeps tenths, holographic stores it as trust_score'));
/**
 * Metadata, counted as JSON text. Without a bound but the 1 MiB body, 60 memories of 60,000-key metadata made a
 * page of 100 a 53 MB answer (6.5 s, 590 MB) and a search 14 s. A quarter of content's bound: room for
 * annotations, not a second store.
 */
export const MAX_METADATA_CHARS = 16_384;
const Metadata = JsonObject.check(
  z.refine((m) => JSON.stringify(m).length <= MAX_METADATA_CHARS, { error: `metadata must be at most ${MAX_METADATA_CHARS} characters as JSON` }),
  finiteNumbers('metadata'),
);


export const CreateMemoryBody = z.object({
  content: Content,
  category: z._default(Category, 'general'),
  tags: z._default(z.array(Tag).check(z.maxLength(MAX_TAGS)), []),
  importance: z._default(Importance, 0.5),
  metadata: z._default(Metadata, {}),
});
export type CreateMemoryBody = z.infer<typeof CreateMemoryBody>;

export const SearchFilters = z.object({
  category: z.optional(Category),
  tags: z.optional(z.array(Tag).check(z.maxLength(MAX_TAGS))),
  min_importance: z.optional(Importance),
  since: z.optional(ClientTime),
  until: z.optional(ClientTime),
});
export type SearchFilters = z.infer<typeof SearchFilters>;

const QueryText = z.string().check(z.maxLength(MAX_QUERY_CHARS));

export const SearchBody = z.object({
  query: z._default(QueryText, ''),
  limit: z._default(z.number().check(z.int(), z.gte(1), z.lte(100)), 10),
  filters: z.optional(SearchFilters),
});
export type SearchBody = z.infer<typeof SearchBody>;

export const ListQuery = z.object({
  limit: z._default(queryInt(1, 1000), 100),
  offset: z._default(queryInt(0, Number.MAX_SAFE_INTEGER), 0),
  category: z.optional(Category),
});

export const RecallQuery = z.object({
  // The string's own error covers only a missing query: given to z.string it also replaced the length check's message.
  query: z.string({ error: (iss) => (iss.input === undefined ? 'query is required' : undefined) }).check(
    z.maxLength(MAX_QUERY_CHARS, { error: `query must be at most ${MAX_QUERY_CHARS} characters` }),
    z.refine((s) => s.trim().length > 0, { error: 'query must not be empty' }),
  ),
  limit: z._default(queryInt(1, 100), 10),
  category: z.optional(Category),
});

// No length bound: an id that names no memory is a 404 (SPEC §9), and every backend looks any id up safely.
export const MemoryIdParams = z.object({ id: z.string().check(z.minLength(1)) });

export const Memory = z.object({
  id: z.string(),
  content: z.string(),
  category: z.string(),
  tags: z.array(z.string()),
  importance: z.number(),
  metadata: JsonObject,
  created_at: z.string(),
  updated_at: z.string(),
});
export type Memory = z.infer<typeof Memory>;

export const ScoredMemory = z.extend(Memory, { score: z.number() });
export type ScoredMemory = z.infer<typeof ScoredMemory>;

export const Backend = z.enum(['holographic', 'sqlite', 'spacetimedb']);
export type BackendName = z.infer<typeof Backend>;

export const CreateMemoryResponse = z.object({ stored: z.literal(true), duplicate: z.boolean(), memory: Memory });
export const ListMemoriesResponse = z.object({ memories: z.array(Memory), total: z.number().check(z.int()), limit: z.number().check(z.int()), offset: z.number().check(z.int()), backend: Backend });
export const SearchResponse = z.object({ results: z.array(ScoredMemory), total: z.number().check(z.int()), query: z.string() });
export const RecallResponse = z.object({ results: z.array(ScoredMemory), query: z.string() });
export const DeleteResponse = z.object({ deleted: z.literal(true), memory_id: z.string() });
export const StatsResponse = z.looseObject({
  backend: Backend,
  status: z.enum(['ok', 'degraded', 'unreachable']),
  total_memories: z.nullable(z.number().check(z.int())),
  categories: Counts,
  error: z.optional(z.string()),
});
export type StatsResponse = z.infer<typeof StatsResponse>;

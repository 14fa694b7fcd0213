import { index, integer, primaryKey, real, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * MEMORY_BACKEND=sqlite: the memories themselves. `seq` is the rowid the FTS5 index
 * `memories_fts` (created by a custom migration: drizzle cannot describe virtual tables) points at;
 * `id` is the API's opaque id; `content_sha256` makes duplicate content return the existing memory.
 */
export const memories = sqliteTable(
  'memories',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    id: text('id').notNull().unique(),
    content: text('content').notNull(),
    contentSha256: text('content_sha256').notNull().unique(),
    category: text('category').notNull(),
    /** JSON array of strings. */
    tags: text('tags').notNull(),
    /** 0..1 */
    importance: real('importance').notNull(),
    /** JSON object. */
    metadata: text('metadata').notNull(),
    createdAt: text('created_at').notNull(),
    updatedAt: text('updated_at').notNull(),
  },
  (t) => [
    index('memories_category_idx').on(t.category),
    index('memories_importance_idx').on(t.importance),
    index('memories_created_at_idx').on(t.createdAt),
    // A search without words, by category: its best memories in order (importance, then newest, the
    // rowid every index ends with) instead of sorting every memory of the category (10.7 ms for 20,000).
    index('memories_category_importance_idx').on(t.category, t.importance),
    // Counting a category since a time from the index alone (3,700 of 12,300 memories: 8.4 ms reading
    // every memory of the category, 0.07 ms from this index).
    index('memories_category_created_at_idx').on(t.category, t.createdAt),
  ],
);

/**
 * One row per tag of a memory, so a tag filter reads the memories that carry the tag instead of
 * parsing every memory's JSON `tags` (a search without words by one tag read all 100,000 memories).
 * Kept by triggers on `memories` (custom migration memory_tags_sync, which also fills it for
 * memories written before it existed): every writer, and every insert, update and delete, in the
 * same statement. The key (tag, memory_seq) is the lookup index; tags compare as written (BINARY), as
 * the filter always has.
 */
export const memoryTags = sqliteTable(
  'memory_tags',
  {
    tag: text('tag').notNull(),
    memorySeq: integer('memory_seq').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tag, t.memorySeq] }), index('memory_tags_memory_seq_idx').on(t.memorySeq)],
);

/**
 * MEMORY_BACKEND=holographic: what Hermes' `facts` table has no column for (the API's `metadata`),
 * keyed by fact id. The content hash ties a row to the fact it was written for, so a recreated
 * memory_store.db (fact ids starting again at 1) never shows another fact's metadata.
 */
export const memoryFactMeta = sqliteTable('memory_fact_meta', {
  factId: integer('fact_id').primaryKey(),
  contentSha256: text('content_sha256').notNull(),
  /** JSON object. */
  metadata: text('metadata').notNull(),
  updatedAt: text('updated_at').notNull(),
});

import { sqliteTable, text } from 'drizzle-orm/sqlite-core';

/** Facts about this sidecar instance (its id, when its database was created). */
export const sidecarMeta = sqliteTable('sidecar_meta', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: text('updated_at').notNull(),
});

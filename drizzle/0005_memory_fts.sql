-- Custom migration (drizzle-kit generate --custom): drizzle cannot describe FTS5 virtual tables.
-- Full-text index of MEMORY_BACKEND=sqlite over memories.content and memories.tags, an external-content
-- table kept in sync by triggers, so a deleted or changed memory can never be found by its old text.
CREATE VIRTUAL TABLE `memories_fts` USING fts5(content, tags, content='memories', content_rowid='seq');
--> statement-breakpoint
CREATE TRIGGER `memories_fts_ai` AFTER INSERT ON `memories` BEGIN
  INSERT INTO memories_fts(rowid, content, tags) VALUES (new.seq, new.content, new.tags);
END;
--> statement-breakpoint
CREATE TRIGGER `memories_fts_ad` AFTER DELETE ON `memories` BEGIN
  INSERT INTO memories_fts(memories_fts, rowid, content, tags) VALUES ('delete', old.seq, old.content, old.tags);
END;
--> statement-breakpoint
CREATE TRIGGER `memories_fts_au` AFTER UPDATE ON `memories` BEGIN
  INSERT INTO memories_fts(memories_fts, rowid, content, tags) VALUES ('delete', old.seq, old.content, old.tags);
  INSERT INTO memories_fts(rowid, content, tags) VALUES (new.seq, new.content, new.tags);
END;

-- Custom migration (drizzle-kit generate --custom): drizzle cannot describe triggers.
-- memory_tags holds exactly the tags a memory shows: the text items of its `tags` when that is a JSON
-- array (a hand-edited value that is not shows no tags, and must not make the write fail). Triggers keep
-- it in step in the statement that changes the memory, whichever process or code writes it; the last
-- statement fills it for the memories written before this migration (it runs in the same transaction).
-- The insert trigger is the hot path: guarded by WHEN, repeats left to the key (OR IGNORE) rather than
-- DISTINCT, it took half the CPU of the CASE form kept for the rarer update and the fill below.
CREATE TRIGGER `memory_tags_ai` AFTER INSERT ON `memories` WHEN json_valid(new.tags) BEGIN
  INSERT OR IGNORE INTO memory_tags (tag, memory_seq)
    SELECT value, new.seq FROM json_each(new.tags) WHERE type = 'text' AND json_type(new.tags) = 'array';
END;
--> statement-breakpoint
CREATE TRIGGER `memory_tags_ad` AFTER DELETE ON `memories` BEGIN
  DELETE FROM memory_tags WHERE memory_seq = old.seq;
END;
--> statement-breakpoint
CREATE TRIGGER `memory_tags_au` AFTER UPDATE OF `seq`, `tags` ON `memories` BEGIN
  DELETE FROM memory_tags WHERE memory_seq = old.seq;
  INSERT OR IGNORE INTO memory_tags (tag, memory_seq)
    SELECT value, new.seq FROM json_each(CASE WHEN json_valid(new.tags) THEN CASE WHEN json_type(new.tags) = 'array' THEN new.tags END END) WHERE type = 'text';
END;
--> statement-breakpoint
INSERT OR IGNORE INTO memory_tags (tag, memory_seq)
  SELECT j.value, m.seq FROM memories m, json_each(CASE WHEN json_valid(m.tags) THEN CASE WHEN json_type(m.tags) = 'array' THEN m.tags END END) j WHERE j.type = 'text';

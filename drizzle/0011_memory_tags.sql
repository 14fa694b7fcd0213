CREATE TABLE `memory_tags` (
	`tag` text NOT NULL,
	`memory_seq` integer NOT NULL,
	PRIMARY KEY(`tag`, `memory_seq`)
);
--> statement-breakpoint
CREATE INDEX `memory_tags_memory_seq_idx` ON `memory_tags` (`memory_seq`);--> statement-breakpoint
CREATE INDEX `memories_category_created_at_idx` ON `memories` (`category`,`created_at`);
CREATE TABLE `memories` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`content` text NOT NULL,
	`content_sha256` text NOT NULL,
	`category` text NOT NULL,
	`tags` text NOT NULL,
	`importance` real NOT NULL,
	`metadata` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `memories_id_unique` ON `memories` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `memories_content_sha256_unique` ON `memories` (`content_sha256`);--> statement-breakpoint
CREATE INDEX `memories_category_idx` ON `memories` (`category`);--> statement-breakpoint
CREATE INDEX `memories_importance_idx` ON `memories` (`importance`);--> statement-breakpoint
CREATE INDEX `memories_created_at_idx` ON `memories` (`created_at`);--> statement-breakpoint
CREATE TABLE `memory_fact_meta` (
	`fact_id` integer PRIMARY KEY NOT NULL,
	`content_sha256` text NOT NULL,
	`metadata` text NOT NULL,
	`updated_at` text NOT NULL
);

CREATE INDEX `escrows_created` ON `escrows` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `escrows_status_created` ON `escrows` (`status`,`created_at`,`id`);
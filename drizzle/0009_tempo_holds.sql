CREATE TABLE `tempo_holds` (
	`id` text PRIMARY KEY NOT NULL,
	`caller_id` text NOT NULL,
	`hold_micro` integer NOT NULL,
	`created_at` text NOT NULL,
	`expires_at_ms` integer NOT NULL,
	CONSTRAINT "tempo_holds_non_negative" CHECK("tempo_holds"."hold_micro" >= 0)
);
--> statement-breakpoint
CREATE INDEX `tempo_holds_caller` ON `tempo_holds` (`caller_id`);--> statement-breakpoint
CREATE INDEX `tempo_holds_expires` ON `tempo_holds` (`expires_at_ms`);
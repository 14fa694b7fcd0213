CREATE TABLE `escrow_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`escrow_id` text NOT NULL,
	`from_status` text,
	`to_status` text NOT NULL,
	`actor` text NOT NULL,
	`at` text NOT NULL,
	`detail` text,
	FOREIGN KEY (`escrow_id`) REFERENCES `escrows`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `escrow_events_escrow` ON `escrow_events` (`escrow_id`,`id`);--> statement-breakpoint
CREATE TABLE `escrow_totals` (
	`token` text NOT NULL,
	`decimals` integer NOT NULL,
	`status` text NOT NULL,
	`amount` text NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`token`, `decimals`, `status`)
);
--> statement-breakpoint
CREATE TABLE `escrows` (
	`id` text PRIMARY KEY NOT NULL,
	`task_id` text NOT NULL,
	`amount` text NOT NULL,
	`token` text NOT NULL,
	`decimals` integer NOT NULL,
	`recipient` text,
	`gaze_required` integer NOT NULL,
	`status` text NOT NULL,
	`created_at` text NOT NULL,
	`expires_at` text NOT NULL,
	`expires_at_ms` integer NOT NULL,
	`released_at` text,
	`released_to` text,
	`refunded_at` text,
	`expiry_counted` integer DEFAULT false NOT NULL,
	CONSTRAINT "escrows_amount_positive" CHECK("escrows"."amount" GLOB '[1-9]*' AND "escrows"."amount" NOT GLOB '*[^0-9]*')
);
--> statement-breakpoint
CREATE INDEX `escrows_task` ON `escrows` (`task_id`);--> statement-breakpoint
CREATE INDEX `escrows_expiry_sweep` ON `escrows` (`status`,`expiry_counted`,`expires_at_ms`);--> statement-breakpoint
CREATE TABLE `tempo_calls` (
	`id` text PRIMARY KEY NOT NULL,
	`caller_id` text NOT NULL,
	`model` text NOT NULL,
	`input_tokens` integer NOT NULL,
	`output_tokens` integer NOT NULL,
	`usage_reported` integer NOT NULL,
	`input_cost_micro` integer NOT NULL,
	`output_cost_micro` integer NOT NULL,
	`margin_micro` integer NOT NULL,
	`total_micro` integer NOT NULL,
	`token` text NOT NULL,
	`latency_ms` integer NOT NULL,
	`created_at` text NOT NULL,
	CONSTRAINT "tempo_calls_costs_non_negative" CHECK("tempo_calls"."input_cost_micro" >= 0 AND "tempo_calls"."output_cost_micro" >= 0 AND "tempo_calls"."margin_micro" >= 0 AND "tempo_calls"."total_micro" = "tempo_calls"."input_cost_micro" + "tempo_calls"."output_cost_micro" + "tempo_calls"."margin_micro")
);
--> statement-breakpoint
CREATE INDEX `tempo_calls_caller_created` ON `tempo_calls` (`caller_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `tempo_calls_created` ON `tempo_calls` (`created_at`);--> statement-breakpoint
CREATE TABLE `mpp_payments` (
	`reference` text PRIMARY KEY NOT NULL,
	`challenge_id` text NOT NULL,
	`method` text NOT NULL,
	`intent` text NOT NULL,
	`amount` text NOT NULL,
	`currency` text NOT NULL,
	`recipient` text,
	`source` text,
	`path` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `mpp_store` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`expires_at_ms` integer
);
--> statement-breakpoint
CREATE INDEX `mpp_store_expires` ON `mpp_store` (`expires_at_ms`);
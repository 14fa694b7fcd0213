CREATE TABLE `task_counters` (
	`bucket` text PRIMARY KEY NOT NULL,
	`n` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `task_dependencies` (
	`task_id` text NOT NULL,
	`depends_on` text NOT NULL,
	PRIMARY KEY(`task_id`, `depends_on`),
	FOREIGN KEY (`task_id`) REFERENCES `tasks`(`task_id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`depends_on`) REFERENCES `tasks`(`task_id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `task_dependencies_depends_on_idx` ON `task_dependencies` (`depends_on`);--> statement-breakpoint
CREATE TABLE `tasks` (
	`task_id` text PRIMARY KEY NOT NULL,
	`title` text NOT NULL,
	`description` text NOT NULL,
	`status` text NOT NULL,
	`priority` integer NOT NULL,
	`capabilities` text NOT NULL,
	`validation_mode` text NOT NULL,
	`parent_task_id` text,
	`depends_on` text NOT NULL,
	`swarm_id` text,
	`assigned_agent` text,
	`agent` text,
	`gaze_required` integer NOT NULL,
	`reward_units` integer NOT NULL,
	`result` text,
	`unmet_deps` integer NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`claimed_at` text,
	`lease_expires_at` text,
	`completed_at` text,
	`completed_by` text,
	`cancelled_at` text
);
--> statement-breakpoint
CREATE INDEX `tasks_order_idx` ON `tasks` ("priority" DESC,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_status_order_idx` ON `tasks` (`status`,"priority" DESC,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_agent_idx` ON `tasks` (`agent`,`status`,"priority" DESC,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_assigned_idx` ON `tasks` (`assigned_agent`,`status`,"priority" DESC,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_swarm_idx` ON `tasks` (`swarm_id`,"priority" DESC,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_parent_idx` ON `tasks` (`parent_task_id`,"priority" DESC,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_lease_idx` ON `tasks` (`status`,`lease_expires_at`) WHERE "tasks"."lease_expires_at" IS NOT NULL;
ALTER TABLE `chat_messages` ADD `unfiled` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `chat_sessions` ADD `unfiled_turns` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `chat_sessions` ADD `filed_turns` integer DEFAULT 0 NOT NULL;
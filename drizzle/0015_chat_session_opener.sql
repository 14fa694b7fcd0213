ALTER TABLE `chat_sessions` ADD `opener_place` text;--> statement-breakpoint
ALTER TABLE `chat_sessions` ADD `opener_pid` integer;--> statement-breakpoint
ALTER TABLE `chat_sessions` ADD `opener_token` text;
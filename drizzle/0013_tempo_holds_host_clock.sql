ALTER TABLE `tempo_holds` ADD `boot_id` text;--> statement-breakpoint
ALTER TABLE `tempo_holds` ADD `expires_uptime_ms` integer;
ALTER TABLE `mpp_store` ADD `boot_id` text;--> statement-breakpoint
ALTER TABLE `mpp_store` ADD `kept_until_uptime_ms` integer;
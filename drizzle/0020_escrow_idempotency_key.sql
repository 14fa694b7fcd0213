ALTER TABLE `escrows` ADD `idempotency_key` text;--> statement-breakpoint
CREATE UNIQUE INDEX `escrows_idempotency_key` ON `escrows` (`idempotency_key`) WHERE "escrows"."idempotency_key" IS NOT NULL;
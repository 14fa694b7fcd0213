CREATE TABLE `tempo_totals` (
	`caller_id` text PRIMARY KEY NOT NULL,
	`calls` integer NOT NULL,
	`tokens` integer NOT NULL,
	`cost_micro` integer NOT NULL,
	`margin_micro` integer NOT NULL,
	`billed_micro` integer NOT NULL
);
--> statement-breakpoint
-- Custom: the totals of the calls recorded before this table existed.
INSERT INTO `tempo_totals` (`caller_id`, `calls`, `tokens`, `cost_micro`, `margin_micro`, `billed_micro`)
SELECT `caller_id`, COUNT(*), SUM(`input_tokens` + `output_tokens`), SUM(`input_cost_micro` + `output_cost_micro`), SUM(`margin_micro`), SUM(`total_micro`)
FROM `tempo_calls` GROUP BY `caller_id`;

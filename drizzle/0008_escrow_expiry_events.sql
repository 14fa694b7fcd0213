-- Custom: before 2026-12-06 an expiry was counted in the running totals without an event row. Those
-- escrows get their locked → expired event now, at expires_at as later expiries have it: the ones
-- counted as expired, and the ones refunded after expiring (their refund event says from expired).
INSERT INTO `escrow_events` (`escrow_id`, `from_status`, `to_status`, `actor`, `at`, `detail`)
SELECT e.`id`, 'locked', 'expired', 'system', e.`expires_at`, NULL
FROM `escrows` e
WHERE (e.`expiry_counted` = 1
    OR (e.`status` = 'refunded' AND EXISTS (SELECT 1 FROM `escrow_events` r WHERE r.`escrow_id` = e.`id` AND r.`from_status` = 'expired')))
  AND NOT EXISTS (SELECT 1 FROM `escrow_events` x WHERE x.`escrow_id` = e.`id` AND x.`to_status` = 'expired')
ORDER BY e.`expires_at_ms`, e.`id`;
--> statement-breakpoint
-- A history is read in id order: a refund that came after the expiry is written again after it, then
-- its first row is removed (event ids appear nowhere else).
INSERT INTO `escrow_events` (`escrow_id`, `from_status`, `to_status`, `actor`, `at`, `detail`)
SELECT r.`escrow_id`, r.`from_status`, r.`to_status`, r.`actor`, r.`at`, r.`detail`
FROM `escrow_events` r
WHERE r.`to_status` = 'refunded' AND r.`id` < (SELECT MAX(x.`id`) FROM `escrow_events` x WHERE x.`escrow_id` = r.`escrow_id` AND x.`to_status` = 'expired')
ORDER BY r.`id`;
--> statement-breakpoint
DELETE FROM `escrow_events`
WHERE `to_status` = 'refunded' AND `id` < (SELECT MAX(x.`id`) FROM `escrow_events` x WHERE x.`escrow_id` = `escrow_events`.`escrow_id` AND x.`to_status` = 'expired');

-- Custom migration (drizzle-kit generate --custom): fills the columns 0016 added for the rows already there.
-- The turns kept for an agent's session (a bookkeeping row) were all kept because the agent did not file
-- them under its id. Turns of the sidecar's own sessions recorded before 0016 stay counted as filed (which
-- went without X-Hermes-Session-Id was not recorded: the previous behaviour), and a session with any turn
-- recorded may be held by the agent in some part (filed_turns 1).
UPDATE `chat_messages` SET `unfiled` = 1 WHERE `session_id` IN (SELECT `id` FROM `chat_sessions` WHERE `origin` = 'upstream');
--> statement-breakpoint
UPDATE `chat_sessions` SET `unfiled_turns` = `message_count` / 2 WHERE `origin` = 'upstream';
--> statement-breakpoint
UPDATE `chat_sessions` SET `filed_turns` = 1 WHERE `last_upstream` IS NOT NULL;

-- +goose Up
-- When a dead letter was last requeued (Unix nanoseconds; 0 if never), so
-- that a requeued delivery gets a full retry window of its own rather than
-- one measured from its acceptance.
ALTER TABLE outbox ADD COLUMN requeued_at INTEGER NOT NULL DEFAULT 0;

-- +goose Up
-- claims numbers a delivery's claims, so that the outcome of a claim that
-- ran out and was taken over is refused; taken_over is 1 when the last
-- claim took the delivery from one that ran out with no outcome recorded
-- (lease_until not cleared).
ALTER TABLE outbox ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN taken_over INTEGER NOT NULL DEFAULT 0;

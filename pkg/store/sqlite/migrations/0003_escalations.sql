-- +goose Up
-- Escalations of incidents and the nonces of used signed links.
-- Times are Unix nanoseconds (UTC).

-- One row per incident under an escalation policy. state is the
-- escalation's state, opaque to the store; next_at is when its timer
-- fires (0: none); lease_until is how long a worker holds the timer;
-- notification_id is the incident's latest accepted payload, which the
-- pruner keeps while the row refers to it.
CREATE TABLE escalations (
	incident_key    TEXT PRIMARY KEY,
	route           TEXT NOT NULL,
	policy          TEXT NOT NULL,
	state           BLOB NOT NULL,
	next_at         INTEGER NOT NULL DEFAULT 0,
	lease_until     INTEGER NOT NULL DEFAULT 0,
	updated_at      INTEGER NOT NULL,
	notification_id INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX escalations_next ON escalations (next_at) WHERE next_at <> 0;
CREATE INDEX escalations_notification ON escalations (notification_id);

-- Nonces of the signed links used, remembered until their links expire.
CREATE TABLE nonces (
	nonce TEXT PRIMARY KEY,
	until INTEGER NOT NULL
);
CREATE INDEX nonces_until ON nonces (until);

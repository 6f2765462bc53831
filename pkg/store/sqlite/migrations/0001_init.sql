-- +goose Up
-- The first schema: alert groups, accepted payloads and the outbox.
-- Times are Unix nanoseconds (UTC).

-- One row per route's alert group; state_hash is the last recorded
-- state, to recognise repeated notifications.
CREATE TABLE incidents (
	incident_key TEXT PRIMARY KEY,
	route        TEXT NOT NULL,
	group_key    TEXT NOT NULL,
	status       TEXT NOT NULL,
	state_hash   TEXT NOT NULL,
	first_seen   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
);

-- The payloads as accepted; outbox rows refer to them.
CREATE TABLE notifications (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	incident_key TEXT NOT NULL,
	received_at  INTEGER NOT NULL,
	payload      BLOB NOT NULL
);

-- One row per delivery to make.
CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	channel         TEXT NOT NULL,
	route           TEXT NOT NULL,
	incident_key    TEXT NOT NULL,
	kind            TEXT NOT NULL,
	notification_id INTEGER NOT NULL REFERENCES notifications (id),
	created_at      INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	lease_until     INTEGER NOT NULL DEFAULT 0,
	state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
	done_at         INTEGER
);

-- Claim: the oldest pending row per channel and incident, and due rows.
CREATE INDEX outbox_pending_incident ON outbox (channel, incident_key, id) WHERE state = 'pending';
CREATE INDEX outbox_pending_due ON outbox (next_attempt_at) WHERE state = 'pending';
-- Pruning of done rows and of payloads no row refers to.
CREATE INDEX outbox_done ON outbox (done_at) WHERE state = 'done';
CREATE INDEX outbox_notification ON outbox (notification_id);
CREATE INDEX outbox_incident ON outbox (incident_key);
CREATE INDEX notifications_received ON notifications (received_at);

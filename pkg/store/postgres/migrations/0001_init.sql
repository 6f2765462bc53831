-- +goose Up
-- The schema of SQLite's migrations 1 to 3, in PostgreSQL's types: alert
-- groups, accepted payloads, the outbox, escalations and nonces.
-- Times are Unix nanoseconds (UTC) in bigint, as in SQLite: timestamptz
-- keeps only microseconds, and the store's times must round-trip
-- exactly. Keys compare byte by byte (COLLATE "C"), as SQLite's do, so
-- that ORDER BY and prefix ranges agree with it.

-- One row per route's alert group; state_hash is the last recorded
-- state, to recognise repeated notifications.
CREATE TABLE incidents (
	incident_key text COLLATE "C" PRIMARY KEY,
	route        text NOT NULL,
	group_key    text NOT NULL,
	status       text NOT NULL,
	state_hash   text NOT NULL,
	first_seen   bigint NOT NULL,
	updated_at   bigint NOT NULL
);

-- The payloads as accepted, byte for byte; outbox rows refer to them.
CREATE TABLE notifications (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	incident_key text COLLATE "C" NOT NULL,
	received_at  bigint NOT NULL,
	payload      bytea NOT NULL
);

-- One row per delivery to make. requeued_at is when a dead letter was
-- last requeued (0 if never).
CREATE TABLE outbox (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	channel         text COLLATE "C" NOT NULL,
	route           text NOT NULL,
	incident_key    text COLLATE "C" NOT NULL,
	kind            text NOT NULL,
	notification_id bigint NOT NULL REFERENCES notifications (id),
	created_at      bigint NOT NULL,
	next_attempt_at bigint NOT NULL,
	attempts        integer NOT NULL DEFAULT 0,
	last_error      text NOT NULL DEFAULT '',
	lease_until     bigint NOT NULL DEFAULT 0,
	state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
	done_at         bigint,
	requeued_at     bigint NOT NULL DEFAULT 0,
	-- claims numbers the row's claims; taken_over is 1 when the last claim
	-- took it from one that ran out with no outcome recorded.
	claims          bigint NOT NULL DEFAULT 0,
	taken_over      boolean NOT NULL DEFAULT false
);

-- Claim: the oldest pending row per channel and incident, and due rows.
CREATE INDEX outbox_pending_incident ON outbox (channel, incident_key, id) WHERE state = 'pending';
CREATE INDEX outbox_pending_due ON outbox (next_attempt_at) WHERE state = 'pending';
-- Pruning of done rows and of payloads no row refers to.
CREATE INDEX outbox_done ON outbox (done_at) WHERE state = 'done';
CREATE INDEX outbox_notification ON outbox (notification_id);
CREATE INDEX outbox_incident ON outbox (incident_key);
CREATE INDEX notifications_received ON notifications (received_at);

-- One row per incident under an escalation policy. state is the
-- escalation's state, opaque to the store; next_at is when its timer
-- fires (0: none); lease_until is how long a worker holds the timer;
-- notification_id is the incident's latest accepted payload, which the
-- pruner keeps while the row refers to it.
CREATE TABLE escalations (
	incident_key    text COLLATE "C" PRIMARY KEY,
	route           text NOT NULL,
	policy          text NOT NULL,
	state           bytea NOT NULL,
	next_at         bigint NOT NULL DEFAULT 0,
	lease_until     bigint NOT NULL DEFAULT 0,
	updated_at      bigint NOT NULL,
	notification_id bigint NOT NULL DEFAULT 0
);
CREATE INDEX escalations_next ON escalations (next_at) WHERE next_at <> 0;
CREATE INDEX escalations_notification ON escalations (notification_id);

-- Nonces of the signed links used, remembered until their links expire.
CREATE TABLE nonces (
	nonce text COLLATE "C" PRIMARY KEY,
	until bigint NOT NULL
);
CREATE INDEX nonces_until ON nonces (until);

-- Each channel's pace across the replicas (store.Pacer): tat is when its
-- next send is due once its burst is spent, held_until the end of a hold
-- an upstream asked for. Only the drivers that replicas share keep it.
CREATE TABLE channel_pace (
	channel    text COLLATE "C" PRIMARY KEY,
	tat        bigint NOT NULL DEFAULT 0,
	held_until bigint NOT NULL DEFAULT 0
);

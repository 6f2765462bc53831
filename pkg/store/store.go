// Package store is klaxon-receiver's durable state: the alert groups it has
// seen and the outbox of deliveries still to make. One transaction records
// a notification from Alertmanager and its outbox rows, so that nothing the
// receiver acknowledged with 200 can be lost, and a restart resumes every
// pending delivery. Drivers live in sub-packages (sqlite; postgres later).
package store

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable wraps every failure to commit (disk full, read-only data
// directory, database locked or gone). The webhook answers 503 to it, so
// Alertmanager retries.
var ErrUnavailable = errors.New("store unavailable")

// Store is the durable state. All methods are safe for concurrent use.
type Store interface {
	// Ingest records one webhook notification and, unless the group's
	// state is unchanged since the last one (a repeated delivery), one
	// pending delivery per channel, in one transaction.
	Ingest(ctx context.Context, in *Ingest) (IngestResult, error)

	// Claim leases up to limit deliveries that are due at now, for lease,
	// so that no other worker or replica takes them meanwhile. For each
	// channel and incident only the oldest pending delivery is offered,
	// which keeps deliveries in order per incident.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// Complete marks a delivery done.
	Complete(ctx context.Context, id int64, at time.Time) error
	// Reschedule records a failed attempt and when to try again.
	Reschedule(ctx context.Context, id int64, next time.Time, lastErr string) error
	// Postpone hands a delivery back until next without counting an
	// attempt: its channel's rate limit or hold is not its failure.
	Postpone(ctx context.Context, id int64, next time.Time) error
	// Bury makes a delivery a dead letter: it is not tried again until
	// Requeue.
	Bury(ctx context.Context, id int64, reason string) error

	// DeadLetters lists dead letters, oldest first.
	DeadLetters(ctx context.Context) ([]Delivery, error)
	// Requeue makes the given dead letters pending again, due now; with no
	// ids, all of them. It leaves dead the ones superseded by a later
	// delivery to the same channel and incident that was made (sending
	// an old trigger after its resolve would open the incident again).
	Requeue(ctx context.Context, now time.Time, ids ...int64) (RequeueResult, error)

	// Stats reports the outbox per channel.
	Stats(ctx context.Context) ([]ChannelStats, error)

	Close() error
}

// Ingest is one webhook notification to record.
type Ingest struct {
	Route       string
	IncidentKey string
	GroupKey    string
	// StateHash identifies the group's state (alert.Message.StateHash).
	StateHash string
	// Status is the payload's status: firing or resolved.
	Status string
	// Kind is the deliveries' kind: trigger or resolve.
	Kind string
	// Payload is the JSON payload as accepted.
	Payload []byte
	// Channels must each hear of the change.
	Channels   []string
	ReceivedAt time.Time
}

// IngestResult says what Ingest did.
type IngestResult struct {
	// Duplicate is true when the group's state was already recorded: no
	// delivery was added.
	Duplicate bool
	// Deliveries is the number of outbox rows added.
	Deliveries int
}

// Delivery is one outbox row.
type Delivery struct {
	ID          int64
	Channel     string
	Route       string
	IncidentKey string
	Kind        string
	Payload     []byte
	CreatedAt   time.Time
	// RequeuedAt is when the delivery was last requeued from the dead
	// letters; zero if never. A requeued delivery's retry window starts
	// then.
	RequeuedAt  time.Time
	Attempts    int
	LastError   string
	NextAttempt time.Time
}

// RequeueResult says what Requeue did.
type RequeueResult struct {
	// Requeued is how many dead letters are pending again.
	Requeued int
	// Superseded are the ids of the dead letters left dead because a later
	// delivery to the same channel and incident was made, oldest first.
	Superseded []int64
}

// ChannelStats describes one channel's outbox.
type ChannelStats struct {
	Channel string
	// Pending deliveries, due or waiting for a retry.
	Pending int
	// OldestPending is when the oldest pending delivery was accepted; zero
	// when none is pending.
	OldestPending time.Time
	// Dead letters.
	Dead int
}

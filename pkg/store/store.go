// Package store is klaxon-receiver's durable state: the alert groups it has
// seen and the outbox of deliveries still to make. One transaction records
// a notification from Alertmanager and its outbox rows, so that nothing the
// receiver acknowledged with 200 can be lost, and a restart resumes every
// pending delivery. Drivers live in sub-packages: sqlite for one receiver,
// postgres for replicas that share a database.
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

// ErrTakenOver is wrapped by the errors of a worker recording the outcome
// of a claim that ran out and that another claim took over meanwhile:
// the outcome is the new claim's to record.
var ErrTakenOver = errors.New("taken over by a later claim")

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
	// Complete marks a delivery done. Complete, Reschedule, Postpone, Bury,
	// Settle and Renew act for one claim of a delivery, its Lease: once
	// another claim took the delivery over, they refuse with an error
	// wrapping ErrTakenOver and leave it to the new claim.
	Complete(ctx context.Context, l Lease, at time.Time) error
	// Reschedule records a failed attempt and when to try again.
	Reschedule(ctx context.Context, l Lease, next time.Time, lastErr string) error
	// Renew extends the given leases of pending deliveries to until, for
	// the worker still working on them, and returns how many it renewed.
	// A delivery no longer pending, or taken over, is left as it is.
	Renew(ctx context.Context, ls []Lease, until time.Time) (int, error)
	// Postpone hands a delivery back until next without counting an
	// attempt: its channel's rate limit or hold is not its failure.
	Postpone(ctx context.Context, l Lease, next time.Time) error
	// Bury makes a delivery a dead letter: it is not tried again until
	// Requeue.
	Bury(ctx context.Context, l Lease, reason string) error

	// ClaimAlong leases, for lease, up to limit more due deliveries to the
	// channel of held, a delivery the caller has claimed, for one message
	// that covers them all (a digest). For each incident it takes the
	// deliveries Claim would offer one after another, oldest first, up to
	// the first that is not due or leased by someone else; held counts as
	// taken, so the incident's later deliveries can come along. Sent in
	// order, they keep every incident's order.
	ClaimAlong(ctx context.Context, held Delivery, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// ClaimRun leases, for lease, up to limit more due deliveries to the
	// channel and incident of held, a delivery the caller has claimed: the
	// ones Claim would offer one after another after held, oldest first,
	// up to the first that is not due or leased by someone else. A channel
	// whose upstream keeps only an incident's latest state sends the
	// latest of them in place of the others (see notify.LatestOnly).
	ClaimRun(ctx context.Context, held Delivery, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// Settle records one outcome for several pending deliveries in one
	// transaction: those one digest covered. Deliveries no longer pending,
	// or taken over, are left as they are, and the error says how many;
	// the others are recorded.
	Settle(ctx context.Context, ls []Lease, s Settlement) error
	// RetryNow makes the channel's pending deliveries that wait for a
	// later time (a retry's backoff or a deferral) due at now, keeping
	// their attempts and last error, and returns how many; leased ones
	// are left alone. Claim still offers each incident's oldest first.
	RetryNow(ctx context.Context, channel string, now time.Time) (int, error)

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
	// Alerts are the group's alerts, for Offer to tell a newer state
	// from an older one.
	Alerts []AlertState
	// Status is the payload's status: firing or resolved.
	Status string
	// Kind is the deliveries' kind: trigger or resolve.
	Kind string
	// Payload is the JSON payload as accepted.
	Payload []byte
	// Channels must each hear of the change.
	Channels   []string
	ReceivedAt time.Time
	// Escalate, if set, is run in the transaction that records the
	// notification, after the incident's state, with the incident's
	// escalation (nil if it has none), whose Payload is this
	// notification's. Its change commits with the notification's outbox
	// rows; its error fails the Ingest, which then records nothing. It is
	// not run for a Duplicate.
	Escalate EscalationHook
}

// EscalationHook starts, refreshes or ends an incident's escalation as
// a notification is recorded: the incident package's, run by Ingest.
type EscalationHook interface {
	// Escalate returns the change to record for the incident's escalation
	// cur (nil if it has none), or nil for no change. It must be quick
	// and must not call the store.
	Escalate(cur *Escalation) (*EscalationChange, error)
}

// EscalationHookFunc is a function used as an EscalationHook.
type EscalationHookFunc func(cur *Escalation) (*EscalationChange, error)

// Escalate calls f.
func (f EscalationHookFunc) Escalate(cur *Escalation) (*EscalationChange, error) { return f(cur) }

// IngestResult says what Ingest did.
type IngestResult struct {
	// Duplicate is true when the notification is not news (Offer): it
	// repeats the recorded state, or predates it. No delivery was added.
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
	// Claim numbers the claims of the delivery, this one the last.
	Claim int64
	// TakenOver is true when the claim before this one ran out with no
	// outcome recorded: its worker died, hung or lost the store, and its
	// attempt may have reached the upstream.
	TakenOver bool
}

// Lease is the delivery's claim that d is a copy of.
func (d Delivery) Lease() Lease { return Lease{ID: d.ID, Claim: d.Claim} }

// Lease names one claim of a delivery: the delivery's ID and the claim's
// number. A worker records the outcome of its attempt against its lease.
type Lease struct {
	ID    int64
	Claim int64
}

// Leases are the leases of ds.
func Leases(ds []Delivery) []Lease {
	out := make([]Lease, len(ds))
	for i, d := range ds {
		out[i] = d.Lease()
	}
	return out
}

// Outcome is what Settle makes of deliveries.
type Outcome int

// The outcomes: the first four as Complete, Reschedule, Postpone and Bury
// record them.
const (
	// Done: delivered at Settlement.At.
	Done Outcome = iota + 1
	// Retry: a failed attempt, tried again at Settlement.At.
	Retry
	// Postponed: handed back until Settlement.At without counting an
	// attempt.
	Postponed
	// Dead: a dead letter.
	Dead
	// Superseded: done at Settlement.At without being sent, since a later
	// delivery to the same channel and incident was sent in its place;
	// Settlement.Error says which, kept as the delivery's last error.
	Superseded
)

// Settlement is one outcome for several deliveries.
type Settlement struct {
	Outcome Outcome
	// At is when the deliveries were done, or are due again.
	At time.Time
	// Error is the last error of a retry or a dead letter.
	Error string
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

// Escalations is the durable state of the incidents' escalations: one row
// per incident with an escalation policy, holding the escalation's state
// (opaque to the store) and its next timer, and the nonces of the signed
// links already used. All methods are safe for concurrent use.
type Escalations interface {
	// UpdateEscalation runs fn with the incident's escalation (nil if it
	// has none) and applies the change fn returns, all in one
	// transaction: the state and timer are recorded (or the row deleted)
	// and the deliveries are added to the outbox after the incident's
	// other pending deliveries, in order. A nil change changes nothing;
	// an error from fn is returned and nothing is recorded. Calls on one
	// incident are serialised, so fn always sees the latest state. fn must
	// be quick and must not call the store.
	UpdateEscalation(ctx context.Context, incidentKey string, fn func(cur *Escalation) (*EscalationChange, error)) error
	// ClaimDueEscalations leases up to limit escalations whose timer is
	// due at now and that no one else holds, for lease, earliest timer
	// first. Recording a change releases the lease.
	ClaimDueEscalations(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Escalation, error)
	// OpenEscalations lists every escalation, by incident key.
	OpenEscalations(ctx context.Context) ([]Escalation, error)
	// EscalationKeys lists, in order, up to limit incident keys of
	// escalations that start with prefix, so that a short form of a key
	// can be resolved (and told ambiguous) without listing them all.
	EscalationKeys(ctx context.Context, prefix string, limit int) ([]string, error)
	// UseNonce marks a signed link's nonce used until the given time,
	// after which the link has expired anyway and the nonce is forgotten.
	// firstUse is true only for the first call with a nonce.
	UseNonce(ctx context.Context, nonce string, until time.Time) (firstUse bool, err error)
}

// Escalation is one incident's escalation as recorded.
type Escalation struct {
	IncidentKey string
	Route       string
	Policy      string
	// State is the escalation's state, opaque to the store.
	State []byte
	// NextAt is when the escalation's timer fires; zero if it has none.
	NextAt    time.Time
	UpdatedAt time.Time
	// Payload is the incident's latest accepted payload.
	Payload []byte
}

// EscalationChange is what an update of an escalation records.
type EscalationChange struct {
	// Route and Policy are recorded when the escalation is created; they
	// are kept on later changes when empty.
	Route, Policy string
	State         []byte
	// NextAt is when the timer fires next; zero for no timer.
	NextAt time.Time
	// Deliveries are added to the incident's outbox, in order.
	Deliveries []NewDelivery
	// Delete removes the escalation; the deliveries are still added.
	Delete bool
}

// NewDelivery is an outbox row an escalation adds.
type NewDelivery struct {
	Channel, Kind string
	// Payload is what the delivery carries; empty means the incident's
	// latest accepted payload.
	Payload []byte
}

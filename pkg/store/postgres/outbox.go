package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// returning are the columns a claim returns, in scanDelivery's order.
const returning = `RETURNING o.id, o.channel, o.route, o.incident_key, o.kind, o.created_at, o.requeued_at, o.attempts,
	o.last_error, o.next_attempt_at, o.claims, o.taken_over,
	(SELECT n.payload FROM notifications AS n WHERE n.id = o.notification_id)`

// claimSet is what a claim changes: the lease, the claim's number, and
// whether it takes the row over from a claim that ran out with no
// outcome recorded (one that is recorded clears the lease).
const claimSet = `lease_until = @until, claims = o.claims + 1, taken_over = (o.lease_until <> 0)`

// claimSQL leases the due rows that are the oldest pending row of their
// channel and incident, as SQLite's does. A row waiting for its retry or
// leased by another worker holds back the later rows of its incident.
//
// Rows another transaction is claiming are skipped (SKIP LOCKED), and
// that never lets a later row of their incident through: only an
// incident's oldest pending row is a candidate, and rows leave the
// pending state only forwards (Requeue aside, which SQLite orders the
// same way). A candidate that another transaction claimed and committed
// since this statement's snapshot is checked again as it is locked
// (READ COMMITTED's recheck of the updated row) and dropped, as it is
// leased now.
const claimSQL = `WITH c AS (
	SELECT p.id FROM outbox AS p
	WHERE p.state = 'pending' AND p.next_attempt_at <= @now AND p.lease_until <= @now
		AND p.id = (SELECT min(q.id) FROM outbox AS q
			WHERE q.state = 'pending' AND q.channel = p.channel AND q.incident_key = p.incident_key)
	ORDER BY p.id
	LIMIT @limit
	FOR UPDATE SKIP LOCKED)
UPDATE outbox AS o SET ` + claimSet + ` FROM c WHERE o.id = c.id
` + returning

// Claim leases up to limit due deliveries until now+lease, oldest first.
// It holds the claim lock shared, so that claims run side by side but
// never beside a ClaimAlong (see there).
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Delivery
	err := s.inTx(ctx, "claiming deliveries", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1, $2)`, lockClass, claimLock); err != nil {
			return err
		}
		var err error
		out, err = queryDeliveries(ctx, tx, claimSQL,
			pgx.NamedArgs{"until": nanos(now.Add(lease)), "now": nanos(now), "limit": limit})
		return err
	})
	if err != nil {
		return nil, err
	}
	return sortByID(out), nil
}

// claimAlongSQL leases the due rows of one channel that are not leased
// and whose incident has no earlier pending row that is not due or is
// leased, other than the held row: for each incident, the run of rows
// Claim would offer one after the other.
const claimAlongSQL = `WITH c AS (
	SELECT p.id FROM outbox AS p
	WHERE p.state = 'pending' AND p.channel = @channel AND p.id <> @held
		AND p.next_attempt_at <= @now AND p.lease_until <= @now
		AND NOT EXISTS (SELECT 1 FROM outbox AS q
			WHERE q.state = 'pending' AND q.channel = p.channel AND q.incident_key = p.incident_key
				AND q.id < p.id AND q.id <> @held AND (q.next_attempt_at > @now OR q.lease_until > @now))
	ORDER BY p.id
	LIMIT @limit
	FOR UPDATE SKIP LOCKED)
UPDATE outbox AS o SET ` + claimSet + ` FROM c WHERE o.id = c.id
` + returning

// ClaimAlong leases up to limit more due deliveries to held's channel
// until now+lease, oldest first. The ORDER BY and LIMIT keep, for each
// incident, an unbroken run from its oldest pending row.
//
// A run is only unbroken if no earlier row of it is being claimed
// meanwhile: a row another transaction leases but has not committed
// looks free to this one, which would take the rows after it. So
// ClaimAlong holds the claim lock exclusively, taken before its query:
// the query's snapshot then sees every claim committed, and no claim runs
// until it commits. ClaimAlong calls are rare (one per digest) and short.
// Rows still locked are skipped as Claim skips them: with claims held
// off, only a worker settling a delivery whose lease passed can hold one.
func (s *Store) ClaimAlong(ctx context.Context, held store.Delivery, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Delivery
	err := s.inTx(ctx, "claiming deliveries along", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockClass, claimLock); err != nil {
			return err
		}
		var err error
		out, err = queryDeliveries(ctx, tx, claimAlongSQL, pgx.NamedArgs{"until": nanos(now.Add(lease)),
			"now": nanos(now), "limit": limit, "channel": held.Channel, "held": held.ID})
		return err
	})
	if err != nil {
		return nil, err
	}
	return sortByID(out), nil
}

// claimRunSQL leases the due rows of one channel and incident after the
// held row that are not leased and have no earlier pending row, other
// than the held one, that is not due or is leased: the run of rows Claim
// would offer one after the other after it. Unlike the other claims, it
// waits for rows locked by others rather than skipping them (see
// ClaimRun).
const claimRunSQL = `WITH c AS (
	SELECT p.id FROM outbox AS p
	WHERE p.state = 'pending' AND p.channel = @channel AND p.incident_key = @incident AND p.id > @held
		AND p.next_attempt_at <= @now AND p.lease_until <= @now
		AND NOT EXISTS (SELECT 1 FROM outbox AS q
			WHERE q.state = 'pending' AND q.channel = p.channel AND q.incident_key = p.incident_key
				AND q.id < p.id AND q.id <> @held AND (q.next_attempt_at > @now OR q.lease_until > @now))
	ORDER BY p.id
	LIMIT @limit
	FOR UPDATE)
UPDATE outbox AS o SET ` + claimSet + ` FROM c WHERE o.id = c.id
` + returning

// ClaimRun leases up to limit more due deliveries to held's channel and
// incident until now+lease, oldest first.
//
// The run stays unbroken without the claim lock that ClaimAlong takes:
// Claim offers only an incident's oldest pending row, which is held (or,
// once its lease passed, taken over by a claim whose worker then calls
// ClaimRun too), so only another ClaimRun can lease rows of the run
// meanwhile, and ClaimRun calls on one channel and incident take a lock of
// their own (runLock) one after another. A row that a worker whose lease
// passed settles meanwhile is waited for rather than skipped, and checked
// again once it is free: done, it is left out; handed back, it is taken.
// Only if that worker records a retry for it does the run go past a row
// it leaves pending, as ClaimAlong's may; that worker's claim of the held
// row was taken over, and recording the held row's outcome refuses it.
func (s *Store) ClaimRun(ctx context.Context, held store.Delivery, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Delivery
	err := s.inTx(ctx, "claiming an incident's run of deliveries", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, runLock(held.Channel, held.IncidentKey)); err != nil {
			return err
		}
		var err error
		out, err = queryDeliveries(ctx, tx, claimRunSQL, pgx.NamedArgs{"until": nanos(now.Add(lease)),
			"now": nanos(now), "limit": limit, "channel": held.Channel, "incident": held.IncidentKey, "held": held.ID})
		return err
	})
	if err != nil {
		return nil, err
	}
	return sortByID(out), nil
}

func sortByID(ds []store.Delivery) []store.Delivery {
	slices.SortFunc(ds, func(a, b store.Delivery) int { return int(a.ID - b.ID) })
	return ds
}

// queryer is a transaction or a connection.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func queryDeliveries(ctx context.Context, q queryer, query string, args ...any) ([]store.Delivery, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanDelivery)
}

func scanDelivery(row pgx.CollectableRow) (store.Delivery, error) {
	var d store.Delivery
	var created, requeued, next int64
	if err := row.Scan(&d.ID, &d.Channel, &d.Route, &d.IncidentKey, &d.Kind, &created, &requeued,
		&d.Attempts, &d.LastError, &next, &d.Claim, &d.TakenOver, &d.Payload); err != nil {
		return store.Delivery{}, err
	}
	d.CreatedAt, d.RequeuedAt, d.NextAttempt = fromNanos(created), fromNanos(requeued), fromNanos(next)
	return d, nil
}

// leased is the condition that a row is pending under the claim @id,
// @claim names.
const leased = `id = @id AND claims = @claim AND state = 'pending'`

// Complete marks a pending delivery done.
func (s *Store) Complete(ctx context.Context, l store.Lease, at time.Time) error {
	return s.record(ctx, "completing delivery", l, `UPDATE outbox SET state = 'done', done_at = @at, lease_until = 0
		WHERE `+leased, pgx.NamedArgs{"at": nanos(at)})
}

// Reschedule records a failed attempt of a pending delivery, releases its
// lease and makes it due at next.
func (s *Store) Reschedule(ctx context.Context, l store.Lease, next time.Time, lastErr string) error {
	return s.record(ctx, "rescheduling delivery", l, `UPDATE outbox
		SET attempts = attempts + 1, last_error = @error, next_attempt_at = @next, lease_until = 0
		WHERE `+leased, pgx.NamedArgs{"error": text(lastErr), "next": nanos(next)})
}

// Postpone hands a pending delivery back until next, keeping its attempts
// and last error.
func (s *Store) Postpone(ctx context.Context, l store.Lease, next time.Time) error {
	return s.record(ctx, "postponing delivery", l, `UPDATE outbox SET next_attempt_at = @next, lease_until = 0
		WHERE `+leased, pgx.NamedArgs{"next": nanos(next)})
}

// Bury makes a pending delivery a dead letter with reason as its last
// error. It counts as a failed attempt.
func (s *Store) Bury(ctx context.Context, l store.Lease, reason string) error {
	return s.record(ctx, "burying delivery", l, `UPDATE outbox
		SET state = 'dead', attempts = attempts + 1, last_error = @error, lease_until = 0
		WHERE `+leased, pgx.NamedArgs{"error": text(reason)})
}

// record runs update, which records the outcome of the claim l, and says
// why when it changed nothing: the delivery was taken over, or is no
// longer pending.
func (s *Store) record(ctx context.Context, op string, l store.Lease, update string, args pgx.NamedArgs) error {
	args["id"], args["claim"] = l.ID, l.Claim
	n, err := s.exec(ctx, op, update, args)
	if err != nil || n > 0 {
		return err
	}
	var later bool
	err = s.use(ctx, op, func(c *pgxpool.Conn) error {
		return c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE id = $1 AND claims > $2)`, l.ID, l.Claim).Scan(&later)
	})
	switch {
	case err != nil:
		return err
	case later:
		return fmt.Errorf("%s %d: %w", op, l.ID, store.ErrTakenOver)
	}
	return fmt.Errorf("%s %d: no such pending delivery", op, l.ID)
}

// settleSets are the changes Settle makes for each outcome, as Complete,
// Reschedule, Postpone and Bury make them, with the time as @at and the
// error as @error.
var settleSets = map[store.Outcome]string{
	store.Done:       `state = 'done', done_at = @at`,
	store.Retry:      `attempts = attempts + 1, last_error = @error, next_attempt_at = @at`,
	store.Postponed:  `next_attempt_at = @at`,
	store.Dead:       `state = 'dead', attempts = attempts + 1, last_error = @error`,
	store.Superseded: `state = 'done', done_at = @at, last_error = @error`,
}

// Settle records one outcome for the pending deliveries of the claims
// ls, in one statement.
func (s *Store) Settle(ctx context.Context, ls []store.Lease, st store.Settlement) error {
	set, ok := settleSets[st.Outcome]
	if !ok {
		return fmt.Errorf("settling deliveries: unknown outcome %d", st.Outcome)
	}
	if len(ls) == 0 {
		return nil
	}
	ids, claims := leaseColumns(ls)
	n, err := s.exec(ctx, "settling deliveries", `UPDATE outbox SET `+set+`, lease_until = 0
		WHERE state = 'pending' AND (id, claims) IN (SELECT * FROM unnest(@ids::bigint[], @claims::bigint[]))`,
		pgx.NamedArgs{"at": nanos(st.At), "error": text(st.Error), "ids": ids, "claims": claims})
	if err != nil {
		return err
	}
	if int(n) < len(ls) {
		return fmt.Errorf("settling deliveries: %d of %d are no longer pending or were taken over", len(ls)-int(n), len(ls))
	}
	return nil
}

// leaseColumns are the IDs and claims of ls, as two arrays.
func leaseColumns(ls []store.Lease) (ids, claims []int64) {
	for _, l := range ls {
		ids, claims = append(ids, l.ID), append(claims, l.Claim)
	}
	return ids, claims
}

// RetryNow makes the channel's unleased pending deliveries that are due
// after now due at now.
func (s *Store) RetryNow(ctx context.Context, channel string, now time.Time) (int, error) {
	n, err := s.exec(ctx, "making a channel's deliveries due", `UPDATE outbox SET next_attempt_at = $1
		WHERE state = 'pending' AND channel = $2 AND next_attempt_at > $1 AND lease_until <= $1`, nanos(now), channel)
	return int(n), err
}

// Renew extends the leases ls of pending deliveries to until.
func (s *Store) Renew(ctx context.Context, ls []store.Lease, until time.Time) (int, error) {
	if len(ls) == 0 {
		return 0, nil
	}
	ids, claims := leaseColumns(ls)
	n, err := s.exec(ctx, "renewing leases", `UPDATE outbox SET lease_until = $1
		WHERE state = 'pending' AND (id, claims) IN (SELECT * FROM unnest($2::bigint[], $3::bigint[]))`,
		nanos(until), ids, claims)
	return int(n), err
}

// DeadLetters lists the dead letters, oldest first.
func (s *Store) DeadLetters(ctx context.Context) ([]store.Delivery, error) {
	var out []store.Delivery
	err := s.use(ctx, "listing dead letters", func(c *pgxpool.Conn) error {
		var err error
		out, err = queryDeliveries(ctx, c, `SELECT o.id, o.channel, o.route, o.incident_key, o.kind, o.created_at,
				o.requeued_at, o.attempts, o.last_error, o.next_attempt_at, o.claims, o.taken_over, n.payload
			FROM outbox AS o JOIN notifications AS n ON n.id = o.notification_id
			WHERE o.state = 'dead' ORDER BY o.id`)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// supersededSQL is true of a dead letter d when a later delivery to the
// same channel and incident was made: requeueing d would send, say, a
// trigger after its resolve and open the incident again.
const supersededSQL = `EXISTS (SELECT 1 FROM outbox AS l
	WHERE l.state = 'done' AND l.channel = d.channel AND l.incident_key = d.incident_key AND l.id > d.id)`

// Requeue makes dead letters pending again, due at now, keeping their
// attempts and last error, and records now as their requeue time; with no
// ids, every dead letter. Superseded dead letters stay dead.
func (s *Store) Requeue(ctx context.Context, now time.Time, ids ...int64) (store.RequeueResult, error) {
	args := pgx.NamedArgs{"now": nanos(now), "all": len(ids) == 0, "ids": ids}
	if ids == nil {
		args["ids"] = []int64{}
	}
	const filter = ` AND (@all OR d.id = ANY(@ids))`
	var res store.RequeueResult
	err := s.inTx(ctx, "requeueing dead letters", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT d.id FROM outbox AS d
			WHERE d.state = 'dead'`+filter+` AND `+supersededSQL+` ORDER BY d.id`, args)
		if err != nil {
			return err
		}
		if res.Superseded, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		if len(res.Superseded) == 0 {
			res.Superseded = nil
		}
		tag, err := tx.Exec(ctx, `UPDATE outbox AS d
			SET state = 'pending', next_attempt_at = @now, requeued_at = @now, lease_until = 0
			WHERE d.state = 'dead'`+filter+` AND NOT `+supersededSQL, args)
		res.Requeued = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return store.RequeueResult{}, err
	}
	return res, nil
}

// Stats reports pending deliveries and dead letters per channel, for the
// channels that have any.
func (s *Store) Stats(ctx context.Context) ([]store.ChannelStats, error) {
	var out []store.ChannelStats
	err := s.use(ctx, "reading outbox stats", func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT channel,
				count(*) FILTER (WHERE state = 'pending'),
				coalesce(min(created_at) FILTER (WHERE state = 'pending'), 0),
				count(*) FILTER (WHERE state = 'dead')
			FROM outbox WHERE state IN ('pending', 'dead')
			GROUP BY channel ORDER BY channel`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.ChannelStats, error) {
			var st store.ChannelStats
			var oldest int64
			err := row.Scan(&st.Channel, &st.Pending, &oldest, &st.Dead)
			st.OldestPending = fromNanos(oldest)
			return st, err
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

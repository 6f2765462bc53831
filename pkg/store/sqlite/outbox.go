package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// claimSQL leases the due rows that are the oldest pending row of their
// channel and incident. A row waiting for its retry or leased by another
// worker holds back the later rows of its incident.
const claimSQL = `UPDATE outbox SET lease_until = :until, claims = claims + 1, taken_over = (lease_until <> 0)
WHERE id IN (
	SELECT o.id FROM outbox AS o
	WHERE o.state = 'pending' AND o.next_attempt_at <= :now AND o.lease_until <= :now
		AND o.id = (SELECT min(p.id) FROM outbox AS p
			WHERE p.state = 'pending' AND p.channel = o.channel AND p.incident_key = o.incident_key)
	ORDER BY o.id
	LIMIT :limit)
RETURNING id, channel, route, incident_key, kind, created_at, requeued_at, attempts, last_error, next_attempt_at,
	claims, taken_over, (SELECT payload FROM notifications AS n WHERE n.id = outbox.notification_id)`

// deliveryColumns are what DeadLetters reads, in scanDelivery's order.
const deliveryColumns = `o.id, o.channel, o.route, o.incident_key, o.kind, o.created_at, o.requeued_at, o.attempts,
	o.last_error, o.next_attempt_at, o.claims, o.taken_over, n.payload`

// Claim leases up to limit due deliveries until now+lease, oldest first.
// It never prunes: the pruner does, in the background (see pruneLoop).
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Delivery
	err := s.write(ctx, "claiming deliveries", func(c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, claimSQL,
			sql.Named("until", nanos(now.Add(lease))), sql.Named("now", nanos(now)), sql.Named("limit", limit))
		if err != nil {
			return err
		}
		out, err = scanDeliveries(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Delivery) int { return int(a.ID - b.ID) })
	return out, nil
}

// claimAlongSQL leases the due rows of one channel that are not leased
// and whose incident has no earlier pending row that is not due or is
// leased, other than the held row: for each incident, the run of rows
// Claim would offer one after the other.
const claimAlongSQL = `UPDATE outbox SET lease_until = :until, claims = claims + 1, taken_over = (lease_until <> 0)
WHERE id IN (
	SELECT o.id FROM outbox AS o
	WHERE o.state = 'pending' AND o.channel = :channel AND o.id <> :held
		AND o.next_attempt_at <= :now AND o.lease_until <= :now
		AND NOT EXISTS (SELECT 1 FROM outbox AS p
			WHERE p.state = 'pending' AND p.channel = o.channel AND p.incident_key = o.incident_key
				AND p.id < o.id AND p.id <> :held AND (p.next_attempt_at > :now OR p.lease_until > :now))
	ORDER BY o.id
	LIMIT :limit)
RETURNING id, channel, route, incident_key, kind, created_at, requeued_at, attempts, last_error, next_attempt_at,
	claims, taken_over, (SELECT payload FROM notifications AS n WHERE n.id = outbox.notification_id)`

// ClaimAlong leases up to limit more due deliveries to held's channel
// until now+lease, oldest first. The ORDER BY and LIMIT keep, for each
// incident, an unbroken run from its oldest pending row.
func (s *Store) ClaimAlong(ctx context.Context, held store.Delivery, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Delivery
	err := s.write(ctx, "claiming deliveries along", func(c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, claimAlongSQL,
			sql.Named("until", nanos(now.Add(lease))), sql.Named("now", nanos(now)), sql.Named("limit", limit),
			sql.Named("channel", held.Channel), sql.Named("held", held.ID))
		if err != nil {
			return err
		}
		out, err = scanDeliveries(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Delivery) int { return int(a.ID - b.ID) })
	return out, nil
}

// claimRunSQL leases the due rows of one channel and incident after the
// held row that are not leased and have no earlier pending row, other
// than the held one, that is not due or is leased: the run of rows Claim
// would offer one after the other after it.
const claimRunSQL = `UPDATE outbox SET lease_until = :until, claims = claims + 1, taken_over = (lease_until <> 0)
WHERE id IN (
	SELECT o.id FROM outbox AS o
	WHERE o.state = 'pending' AND o.channel = :channel AND o.incident_key = :incident AND o.id > :held
		AND o.next_attempt_at <= :now AND o.lease_until <= :now
		AND NOT EXISTS (SELECT 1 FROM outbox AS p
			WHERE p.state = 'pending' AND p.channel = o.channel AND p.incident_key = o.incident_key
				AND p.id < o.id AND p.id <> :held AND (p.next_attempt_at > :now OR p.lease_until > :now))
	ORDER BY o.id
	LIMIT :limit)
RETURNING id, channel, route, incident_key, kind, created_at, requeued_at, attempts, last_error, next_attempt_at,
	claims, taken_over, (SELECT payload FROM notifications AS n WHERE n.id = outbox.notification_id)`

// ClaimRun leases up to limit more due deliveries to held's channel and
// incident until now+lease, oldest first.
func (s *Store) ClaimRun(ctx context.Context, held store.Delivery, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Delivery
	err := s.write(ctx, "claiming an incident's run of deliveries", func(c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, claimRunSQL,
			sql.Named("until", nanos(now.Add(lease))), sql.Named("now", nanos(now)), sql.Named("limit", limit),
			sql.Named("channel", held.Channel), sql.Named("incident", held.IncidentKey), sql.Named("held", held.ID))
		if err != nil {
			return err
		}
		out, err = scanDeliveries(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Delivery) int { return int(a.ID - b.ID) })
	return out, nil
}

func scanDeliveries(rows *sql.Rows) ([]store.Delivery, error) {
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		var d store.Delivery
		var created, requeued, next int64
		if err := rows.Scan(&d.ID, &d.Channel, &d.Route, &d.IncidentKey, &d.Kind, &created, &requeued,
			&d.Attempts, &d.LastError, &next, &d.Claim, &d.TakenOver, &d.Payload); err != nil {
			return nil, err
		}
		d.CreatedAt, d.RequeuedAt, d.NextAttempt = fromNanos(created), fromNanos(requeued), fromNanos(next)
		out = append(out, d)
	}
	return out, rows.Err()
}

// leased is the condition that a row is pending under the claim :id,
// :claim names.
const leased = `id = :id AND claims = :claim AND state = 'pending'`

// Complete marks a pending delivery done.
func (s *Store) Complete(ctx context.Context, l store.Lease, at time.Time) error {
	return s.record(ctx, "completing delivery", l, `UPDATE outbox SET state = 'done', done_at = :at, lease_until = 0
		WHERE `+leased, sql.Named("at", nanos(at)))
}

// Reschedule records a failed attempt of a pending delivery, releases its
// lease and makes it due at next.
func (s *Store) Reschedule(ctx context.Context, l store.Lease, next time.Time, lastErr string) error {
	return s.record(ctx, "rescheduling delivery", l, `UPDATE outbox
		SET attempts = attempts + 1, last_error = :err, next_attempt_at = :next, lease_until = 0
		WHERE `+leased, sql.Named("err", lastErr), sql.Named("next", nanos(next)))
}

// Postpone hands a pending delivery back until next, keeping its attempts
// and last error.
func (s *Store) Postpone(ctx context.Context, l store.Lease, next time.Time) error {
	return s.record(ctx, "postponing delivery", l, `UPDATE outbox SET next_attempt_at = :next, lease_until = 0
		WHERE `+leased, sql.Named("next", nanos(next)))
}

// Bury makes a pending delivery a dead letter with reason as its last
// error. It counts as a failed attempt.
func (s *Store) Bury(ctx context.Context, l store.Lease, reason string) error {
	return s.record(ctx, "burying delivery", l, `UPDATE outbox
		SET state = 'dead', attempts = attempts + 1, last_error = :err, lease_until = 0
		WHERE `+leased, sql.Named("err", reason))
}

// record runs update, which records the outcome of the claim l, and says
// why when it changed nothing: the delivery was taken over, or is no
// longer pending.
func (s *Store) record(ctx context.Context, what string, l store.Lease, update string, args ...any) error {
	args = append(args, sql.Named("id", l.ID), sql.Named("claim", l.Claim))
	n, err := s.exec(ctx, what, update, args...)
	if err != nil || n > 0 {
		return err
	}
	var later int
	err = s.reader.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE id = ? AND claims > ?`, l.ID, l.Claim).Scan(&later)
	switch {
	case err != nil:
		return unavailable(what, err)
	case later > 0:
		return fmt.Errorf("%s %d: %w", what, l.ID, store.ErrTakenOver)
	}
	return fmt.Errorf("%s %d: no such pending delivery", what, l.ID)
}

// settleSets are the changes Settle makes for each outcome, as Complete,
// Reschedule, Postpone and Bury make them; each takes the time and the
// error as ?1 and ?2.
var settleSets = map[store.Outcome]string{
	store.Done:       `state = 'done', done_at = ?1`,
	store.Retry:      `attempts = attempts + 1, last_error = ?2, next_attempt_at = ?1`,
	store.Postponed:  `next_attempt_at = ?1`,
	store.Dead:       `state = 'dead', attempts = attempts + 1, last_error = ?2`,
	store.Superseded: `state = 'done', done_at = ?1, last_error = ?2`,
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
	in, args := leaseValues(ls, nanos(st.At), st.Error)
	n, err := s.exec(ctx, "settling deliveries", `UPDATE outbox SET `+set+`, lease_until = 0
		WHERE state = 'pending' AND (id, claims) IN (`+in+`)`, args...)
	if err != nil {
		return err
	}
	if int(n) < len(ls) {
		return fmt.Errorf("settling deliveries: %d of %d are no longer pending or were taken over", len(ls)-int(n), len(ls))
	}
	return nil
}

// leaseValues is the SQL row values of ls, as in (id, claims) IN (...),
// with their arguments numbered after the leading ones (?1, ?2, ...),
// which the statement may use or not.
func leaseValues(ls []store.Lease, leading ...any) (string, []any) {
	args := append(make([]any, 0, len(leading)+2*len(ls)), leading...)
	rows := make([]string, len(ls))
	for i, l := range ls {
		rows[i] = fmt.Sprintf("(?%d, ?%d)", len(args)+1, len(args)+2)
		args = append(args, l.ID, l.Claim)
	}
	return "VALUES " + strings.Join(rows, ", "), args
}

// RetryNow makes the channel's unleased pending deliveries that are due
// after now due at now.
func (s *Store) RetryNow(ctx context.Context, channel string, now time.Time) (int, error) {
	n, err := s.exec(ctx, "making a channel's deliveries due", `UPDATE outbox SET next_attempt_at = ?1
		WHERE state = 'pending' AND channel = ?2 AND next_attempt_at > ?1 AND lease_until <= ?1`, nanos(now), channel)
	return int(n), err
}

// Renew extends the leases ls of pending deliveries to until.
func (s *Store) Renew(ctx context.Context, ls []store.Lease, until time.Time) (int, error) {
	if len(ls) == 0 {
		return 0, nil
	}
	in, args := leaseValues(ls, nanos(until))
	n, err := s.exec(ctx, "renewing leases", `UPDATE outbox SET lease_until = ?1
		WHERE state = 'pending' AND (id, claims) IN (`+in+`)`, args...)
	return int(n), err
}

// DeadLetters lists the dead letters, oldest first.
func (s *Store) DeadLetters(ctx context.Context) ([]store.Delivery, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+deliveryColumns+`
		FROM outbox AS o JOIN notifications AS n ON n.id = o.notification_id
		WHERE o.state = 'dead' ORDER BY o.id`)
	if err != nil {
		return nil, unavailable("listing dead letters", err)
	}
	out, err := scanDeliveries(rows)
	if err != nil {
		return nil, unavailable("listing dead letters", err)
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
	filter, args := "", []any{}
	if len(ids) > 0 {
		filter = ` AND d.id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	var res store.RequeueResult
	err := s.write(ctx, "requeueing dead letters", func(c *sql.Conn) error {
		var err error
		res, err = requeueTx(ctx, c, now, filter, args)
		return err
	})
	if err != nil {
		return store.RequeueResult{}, err
	}
	return res, nil
}

// requeueTx lists the superseded dead letters that filter selects and
// requeues the others, in one transaction.
func requeueTx(ctx context.Context, c *sql.Conn, now time.Time, filter string, args []any) (store.RequeueResult, error) {
	var res store.RequeueResult
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback() // a no-op after Commit
	if res.Superseded, err = queryIDs(ctx, tx, `SELECT d.id FROM outbox AS d
		WHERE d.state = 'dead'`+filter+` AND `+supersededSQL+` ORDER BY d.id`, args...); err != nil {
		return res, err
	}
	r, err := tx.ExecContext(ctx, `UPDATE outbox AS d
		SET state = 'pending', next_attempt_at = ?, requeued_at = ?, lease_until = 0
		WHERE d.state = 'dead'`+filter+` AND NOT `+supersededSQL,
		append([]any{nanos(now), nanos(now)}, args...)...)
	if err != nil {
		return res, err
	}
	n, err := r.RowsAffected()
	if err != nil {
		return res, err
	}
	res.Requeued = int(n)
	return res, tx.Commit()
}

func queryIDs(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Stats reports pending deliveries and dead letters per channel, for the
// channels that have any.
func (s *Store) Stats(ctx context.Context) ([]store.ChannelStats, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT channel,
			count(*) FILTER (WHERE state = 'pending'),
			coalesce(min(created_at) FILTER (WHERE state = 'pending'), 0),
			count(*) FILTER (WHERE state = 'dead')
		FROM outbox WHERE state IN ('pending', 'dead')
		GROUP BY channel ORDER BY channel`)
	if err != nil {
		return nil, unavailable("reading outbox stats", err)
	}
	defer rows.Close()
	var out []store.ChannelStats
	for rows.Next() {
		var st store.ChannelStats
		var oldest int64
		if err := rows.Scan(&st.Channel, &st.Pending, &oldest, &st.Dead); err != nil {
			return nil, unavailable("reading outbox stats", err)
		}
		st.OldestPending = fromNanos(oldest)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("reading outbox stats", err)
	}
	return out, nil
}

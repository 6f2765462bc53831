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

// pruneEvery is how often Claim deletes rows past the retention.
const pruneEvery = time.Minute

// pruneChunk is how many rows one pruning statement deletes, so that the
// writer is never held for long.
const pruneChunk = 1000

// claimSQL leases the due rows that are the oldest pending row of their
// channel and incident. A row waiting for its retry or leased by another
// worker holds back the later rows of its incident.
const claimSQL = `UPDATE outbox SET lease_until = :until
WHERE id IN (
	SELECT o.id FROM outbox AS o
	WHERE o.state = 'pending' AND o.next_attempt_at <= :now AND o.lease_until <= :now
		AND o.id = (SELECT min(p.id) FROM outbox AS p
			WHERE p.state = 'pending' AND p.channel = o.channel AND p.incident_key = o.incident_key)
	ORDER BY o.id
	LIMIT :limit)
RETURNING id, channel, route, incident_key, kind, created_at, attempts, last_error, next_attempt_at,
	(SELECT payload FROM notifications AS n WHERE n.id = outbox.notification_id)`

// deliveryColumns are what DeadLetters reads, in scanDelivery's order.
const deliveryColumns = `o.id, o.channel, o.route, o.incident_key, o.kind, o.created_at, o.attempts, o.last_error,
	o.next_attempt_at, n.payload`

// Claim leases up to limit due deliveries until now+lease, oldest first.
// It also deletes delivered rows past the retention, at most once a minute.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	s.maybePrune(ctx, now)
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

func scanDeliveries(rows *sql.Rows) ([]store.Delivery, error) {
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		var d store.Delivery
		var created, next int64
		if err := rows.Scan(&d.ID, &d.Channel, &d.Route, &d.IncidentKey, &d.Kind, &created, &d.Attempts,
			&d.LastError, &next, &d.Payload); err != nil {
			return nil, err
		}
		d.CreatedAt, d.NextAttempt = fromNanos(created), fromNanos(next)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Complete marks a pending delivery done.
func (s *Store) Complete(ctx context.Context, id int64, at time.Time) error {
	n, err := s.exec(ctx, "completing delivery", `UPDATE outbox SET state = 'done', done_at = ?, lease_until = 0
		WHERE id = ? AND state = 'pending'`, nanos(at), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("completing delivery %d: no such pending delivery", id)
	}
	return nil
}

// Reschedule records a failed attempt of a pending delivery, releases its
// lease and makes it due at next.
func (s *Store) Reschedule(ctx context.Context, id int64, next time.Time, lastErr string) error {
	n, err := s.exec(ctx, "rescheduling delivery", `UPDATE outbox
		SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, lease_until = 0
		WHERE id = ? AND state = 'pending'`, lastErr, nanos(next), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("rescheduling delivery %d: no such pending delivery", id)
	}
	return nil
}

// Postpone hands a pending delivery back until next, keeping its attempts
// and last error.
func (s *Store) Postpone(ctx context.Context, id int64, next time.Time) error {
	n, err := s.exec(ctx, "postponing delivery", `UPDATE outbox
		SET next_attempt_at = ?, lease_until = 0
		WHERE id = ? AND state = 'pending'`, nanos(next), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("postponing delivery %d: no such pending delivery", id)
	}
	return nil
}

// Bury makes a pending delivery a dead letter with reason as its last
// error. It counts as a failed attempt.
func (s *Store) Bury(ctx context.Context, id int64, reason string) error {
	n, err := s.exec(ctx, "burying delivery", `UPDATE outbox
		SET state = 'dead', attempts = attempts + 1, last_error = ?, lease_until = 0
		WHERE id = ? AND state = 'pending'`, reason, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("burying delivery %d: no such pending delivery", id)
	}
	return nil
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

// Requeue makes dead letters pending again, due at now, keeping their
// attempts and last error; with no ids, every dead letter.
func (s *Store) Requeue(ctx context.Context, now time.Time, ids ...int64) (int, error) {
	query := `UPDATE outbox SET state = 'pending', next_attempt_at = ?, lease_until = 0 WHERE state = 'dead'`
	args := []any{nanos(now)}
	if len(ids) > 0 {
		query += ` AND id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	n, err := s.exec(ctx, "requeueing dead letters", query, args...)
	return int(n), err
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

// maybePrune prunes when a minute has passed since the last time (by the
// callers' clock), and logs a failure: pruning can wait.
func (s *Store) maybePrune(ctx context.Context, now time.Time) {
	last := s.lastPrune.Load()
	if d := nanos(now) - last; last != 0 && d >= 0 && d < int64(pruneEvery) {
		return
	}
	if !s.lastPrune.CompareAndSwap(last, nanos(now)) {
		return
	}
	if err := s.prune(ctx, now.Add(-s.opts.Retention)); err != nil {
		s.opts.Logger.Warn("deleting delivered rows past the retention", "err", err)
	}
}

// pruneSQL deletes, a chunk at a time, delivered rows, the payloads and
// resolved incidents no row refers to, older than :cutoff. Dead letters and
// firing incidents stay.
var pruneSQL = []string{
	`DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE state = 'done' AND done_at < :cutoff LIMIT :chunk)`,
	`DELETE FROM notifications WHERE id IN (
		SELECT n.id FROM notifications AS n
		WHERE n.received_at < :cutoff AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.notification_id = n.id)
		LIMIT :chunk)`,
	`DELETE FROM incidents WHERE incident_key IN (
		SELECT i.incident_key FROM incidents AS i
		WHERE i.status = 'resolved' AND i.updated_at < :cutoff
			AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.incident_key = i.incident_key)
		LIMIT :chunk)`,
}

func (s *Store) prune(ctx context.Context, cutoff time.Time) error {
	for _, q := range pruneSQL {
		for {
			n, err := s.exec(ctx, "pruning", q, sql.Named("cutoff", nanos(cutoff)), sql.Named("chunk", pruneChunk))
			if err != nil {
				return err
			}
			if n < pruneChunk {
				break
			}
		}
	}
	return nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/store"
)

var _ store.Escalations = (*Store)(nil)

// escalationColumns are what scanEscalations reads from the escalations
// table, named e; the payload is the one its notification_id refers to.
const escalationColumns = `e.incident_key, e.route, e.policy, e.state, e.next_at, e.updated_at,
	(SELECT n.payload FROM notifications AS n WHERE n.id = e.notification_id)`

// returnedColumns are escalationColumns in a RETURNING clause, where the
// table has no alias.
const returnedColumns = `incident_key, route, policy, state, next_at, updated_at,
	(SELECT n.payload FROM notifications AS n WHERE n.id = escalations.notification_id)`

// claimEscalationsSQL leases the due escalations no one holds, earliest
// timer first.
const claimEscalationsSQL = `UPDATE escalations SET lease_until = :until
WHERE incident_key IN (
	SELECT d.incident_key FROM escalations AS d
	WHERE d.next_at <> 0 AND d.next_at <= :now AND d.lease_until <= :now
	ORDER BY d.next_at, d.incident_key
	LIMIT :limit)
RETURNING ` + returnedColumns

// upsertEscalation records an escalation's state and timer and releases
// its lease.
const upsertEscalation = `INSERT INTO escalations
		(incident_key, route, policy, state, next_at, lease_until, updated_at, notification_id)
	VALUES (?, ?, ?, ?, ?, 0, ?, ?)
	ON CONFLICT (incident_key) DO UPDATE SET route = excluded.route, policy = excluded.policy,
		state = excluded.state, next_at = excluded.next_at, lease_until = 0,
		updated_at = excluded.updated_at, notification_id = excluded.notification_id`

// callerError is an error of the caller's function or change rather than
// of the store: it is returned as it is, not as store.ErrUnavailable.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }
func (e *callerError) Unwrap() error { return e.err }

// accepted is the notification an escalation refers to: the incident's
// latest accepted payload.
type accepted struct {
	id      int64
	payload []byte
	// route is the escalation's route when it is created.
	route string
}

// UpdateEscalation runs fn with the incident's escalation and applies its
// change in one transaction on the writer, so that calls on one incident
// (and Ingest) are serialised. Times are recorded by Options.Now.
func (s *Store) UpdateEscalation(ctx context.Context, incidentKey string, fn func(cur *store.Escalation) (*store.EscalationChange, error)) error {
	switch {
	case incidentKey == "":
		return errors.New("updating escalation: incident key is empty")
	case fn == nil:
		return errors.New("updating escalation: no update function")
	}
	var callerErr error
	err := s.write(ctx, "updating escalation", func(c *sql.Conn) error {
		tx, err := s.begin(ctx, c)
		if err != nil {
			return err
		}
		defer tx.Rollback() // a no-op after Commit
		if _, err := escalateTx(ctx, tx, incidentKey, accepted{}, s.opts.Now(), fn); err != nil {
			var ce *callerError
			if errors.As(err, &ce) {
				callerErr = ce.err
			}
			return err
		}
		return tx.Commit()
	})
	if callerErr != nil {
		return fmt.Errorf("updating escalation of incident %s: %w", incidentKey, callerErr)
	}
	return err
}

// Statements of escalateTx, which runs within Ingest as well.
const (
	selectEscalation          = `SELECT ` + escalationColumns + `, e.notification_id FROM escalations AS e WHERE e.incident_key = ?`
	setEscalationNotification = `UPDATE escalations SET notification_id = ? WHERE incident_key = ?`
	latestNotificationID      = `SELECT coalesce(max(id), 0) FROM notifications WHERE incident_key = ?`
	incidentRoute             = `SELECT route FROM incidents WHERE incident_key = ?`
	deleteEscalation          = `DELETE FROM escalations WHERE incident_key = ?`
)

// escalateTx runs fn on the incident's escalation in tx and applies the
// change it returns, at the given time. A non-zero notification is the
// one just accepted, which the escalation refers to from now on. It
// returns how many deliveries it added.
func escalateTx(ctx context.Context, tx *writeTx, key string, notification accepted, at time.Time,
	fn func(*store.Escalation) (*store.EscalationChange, error)) (int, error) {
	cur, ref, err := readEscalation(ctx, tx, key)
	if err != nil {
		return 0, err
	}
	if cur != nil && notification.id != 0 {
		cur.Payload, ref = notification.payload, notification.id
	}
	change, err := fn(cur)
	if err != nil {
		return 0, &callerError{err}
	}
	if change == nil {
		if cur != nil && notification.id != 0 {
			_, err = tx.ExecContext(ctx, setEscalationNotification, ref, key)
		}
		return 0, err
	}
	if err := validChange(change); err != nil {
		return 0, &callerError{err}
	}
	if ref == 0 {
		if ref, err = latestNotification(ctx, tx, key, notification); err != nil {
			return 0, err
		}
	}
	route, err := escalationRoute(ctx, tx, key, cur, change, notification)
	if err != nil {
		return 0, err
	}
	if err := recordChange(ctx, tx, key, route, cur, change, ref, at); err != nil {
		return 0, err
	}
	return len(change.Deliveries), addDeliveries(ctx, tx, key, route, ref, change.Deliveries, at)
}

func validChange(ch *store.EscalationChange) error {
	for i, d := range ch.Deliveries {
		switch {
		case d.Channel == "":
			return fmt.Errorf("delivery %d: channel is empty", i)
		case d.Kind == "":
			return fmt.Errorf("delivery %d: kind is empty", i)
		}
	}
	return nil
}

// readEscalation returns the incident's escalation, nil if it has none,
// and the notification it refers to.
func readEscalation(ctx context.Context, tx *writeTx, key string) (*store.Escalation, int64, error) {
	var ref int64
	rows, err := tx.QueryContext(ctx, selectEscalation, key)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, 0, rows.Err()
	}
	e, err := scanEscalation(rows, &ref)
	if err != nil {
		return nil, 0, err
	}
	return &e, ref, rows.Close()
}

// latestNotification is the notification just accepted or else the
// incident's latest; 0 if it has none.
func latestNotification(ctx context.Context, tx *writeTx, key string, notification accepted) (int64, error) {
	if notification.id != 0 {
		return notification.id, nil
	}
	var id int64
	err := tx.scanRow(ctx, latestNotificationID, []any{key}, &id)
	return id, err
}

// escalationRoute is the change's route, else the escalation's, else the
// accepted notification's or the incident's.
func escalationRoute(ctx context.Context, tx *writeTx, key string, cur *store.Escalation, change *store.EscalationChange, notification accepted) (string, error) {
	switch {
	case change.Route != "":
		return change.Route, nil
	case cur != nil:
		return cur.Route, nil
	case notification.route != "":
		return notification.route, nil
	}
	var route string
	err := tx.scanRow(ctx, incidentRoute, []any{key}, &route)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return route, err
}

// recordChange upserts or deletes the escalation.
func recordChange(ctx context.Context, tx *writeTx, key, route string, cur *store.Escalation, change *store.EscalationChange, ref int64, at time.Time) error {
	if change.Delete {
		_, err := tx.ExecContext(ctx, deleteEscalation, key)
		return err
	}
	policy := change.Policy
	if policy == "" && cur != nil {
		policy = cur.Policy
	}
	state := change.State
	if state == nil {
		state = []byte{}
	}
	var next int64
	if !change.NextAt.IsZero() {
		next = nanos(change.NextAt)
	}
	_, err := tx.ExecContext(ctx, upsertEscalation, key, route, policy, state, next, nanos(at), ref)
	return err
}

// addDeliveries adds the deliveries to the incident's outbox, in order.
// One with a payload of its own records it as a notification; the others
// carry the notification ref.
func addDeliveries(ctx context.Context, tx *writeTx, key, route string, ref int64, ds []store.NewDelivery, at time.Time) error {
	for i, d := range ds {
		id := ref
		if len(d.Payload) > 0 {
			res, err := tx.ExecContext(ctx, insertNotification, key, nanos(at), d.Payload)
			if err != nil {
				return err
			}
			if id, err = res.LastInsertId(); err != nil {
				return err
			}
		}
		if id == 0 {
			return &callerError{fmt.Errorf("delivery %d: no payload and no accepted payload of the incident", i)}
		}
		if _, err := tx.ExecContext(ctx, insertDelivery, d.Channel, route, key, d.Kind, id, nanos(at), nanos(at)); err != nil {
			return err
		}
	}
	return nil
}

// ClaimDueEscalations leases up to limit escalations whose timer is due at
// now and whose lease has passed, until now+lease, earliest timer first.
func (s *Store) ClaimDueEscalations(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Escalation, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Escalation
	err := s.write(ctx, "claiming escalations", func(c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, claimEscalationsSQL,
			sql.Named("until", nanos(now.Add(lease))), sql.Named("now", nanos(now)), sql.Named("limit", limit))
		if err != nil {
			return err
		}
		out, err = scanEscalations(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Escalation) int {
		if c := a.NextAt.Compare(b.NextAt); c != 0 {
			return c
		}
		return strings.Compare(a.IncidentKey, b.IncidentKey)
	})
	return out, nil
}

// OpenEscalations lists every escalation by incident key.
func (s *Store) OpenEscalations(ctx context.Context) ([]store.Escalation, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+escalationColumns+` FROM escalations AS e ORDER BY e.incident_key`)
	if err != nil {
		return nil, unavailable("listing escalations", err)
	}
	out, err := scanEscalations(rows)
	if err != nil {
		return nil, unavailable("listing escalations", err)
	}
	return out, nil
}

// escalationKeysSQL finds the keys that start with a prefix as the range
// [prefix, end of prefix), which the primary key's index answers without
// a scan (LIKE would not: it ignores case, the index does not).
const escalationKeysSQL = `SELECT incident_key FROM escalations
WHERE incident_key >= :prefix AND (:end = '' OR incident_key < :end)
ORDER BY incident_key LIMIT :limit`

// EscalationKeys lists up to limit incident keys of escalations that start
// with prefix, in order.
func (s *Store) EscalationKeys(ctx context.Context, prefix string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.reader.QueryContext(ctx, escalationKeysSQL,
		sql.Named("prefix", prefix), sql.Named("end", prefixEnd(prefix)), sql.Named("limit", limit))
	if err != nil {
		return nil, unavailable("finding escalations by key", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, unavailable("finding escalations by key", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("finding escalations by key", err)
	}
	return keys, nil
}

// prefixEnd is the least string greater than every string that starts
// with prefix, in byte order; "" when there is none (no prefix, or only
// 0xff bytes).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

func scanEscalations(rows *sql.Rows) ([]store.Escalation, error) {
	defer rows.Close()
	var out []store.Escalation
	for rows.Next() {
		e, err := scanEscalation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// scanEscalation reads escalationColumns and then extra.
func scanEscalation(rows *sql.Rows, extra ...any) (store.Escalation, error) {
	var e store.Escalation
	var next, updated int64
	dest := append([]any{&e.IncidentKey, &e.Route, &e.Policy, &e.State, &next, &updated, &e.Payload}, extra...)
	if err := rows.Scan(dest...); err != nil {
		return store.Escalation{}, err
	}
	e.NextAt, e.UpdatedAt = fromNanos(next), fromNanos(updated)
	return e, nil
}

// UseNonce records nonce as used until the given time. A nonce whose time
// has passed by Options.Now counts as unused.
func (s *Store) UseNonce(ctx context.Context, nonce string, until time.Time) (bool, error) {
	if nonce == "" {
		return false, errors.New("using nonce: nonce is empty")
	}
	n, err := s.exec(ctx, "using nonce", `INSERT INTO nonces (nonce, until) VALUES (?, ?)
		ON CONFLICT (nonce) DO UPDATE SET until = excluded.until WHERE nonces.until <= ?`,
		nonce, nanos(until), nanos(s.opts.Now()))
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

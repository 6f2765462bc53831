package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// escalationColumns are what scanEscalation reads from the escalations
// table, named e; the payload is the one its notification_id refers to.
const escalationColumns = `e.incident_key, e.route, e.policy, e.state, e.next_at, e.updated_at,
	(SELECT n.payload FROM notifications AS n WHERE n.id = e.notification_id)`

// claimEscalationsSQL leases the due escalations no one holds, earliest
// timer first; those another transaction is claiming are skipped.
const claimEscalationsSQL = `WITH d AS (
	SELECT incident_key FROM escalations
	WHERE next_at <> 0 AND next_at <= @now AND lease_until <= @now
	ORDER BY next_at, incident_key
	LIMIT @limit
	FOR UPDATE SKIP LOCKED)
UPDATE escalations AS e SET lease_until = @until FROM d WHERE e.incident_key = d.incident_key
RETURNING ` + escalationColumns

// upsertEscalation records an escalation's state and timer and releases
// its lease.
const upsertEscalation = `INSERT INTO escalations
		(incident_key, route, policy, state, next_at, lease_until, updated_at, notification_id)
	VALUES ($1, $2, $3, $4, $5, 0, $6, $7)
	ON CONFLICT (incident_key) DO UPDATE SET route = excluded.route, policy = excluded.policy,
		state = excluded.state, next_at = excluded.next_at, lease_until = 0,
		updated_at = excluded.updated_at, notification_id = excluded.notification_id`

// UpdateEscalation runs fn with the incident's escalation and applies its
// change in one transaction that holds the incident's lock, so that calls
// on one incident (and Ingest), on any replica, are serialised. Times are
// recorded by Options.Now.
func (s *Store) UpdateEscalation(ctx context.Context, incidentKey string, fn func(cur *store.Escalation) (*store.EscalationChange, error)) error {
	switch {
	case incidentKey == "":
		return errors.New("updating escalation: incident key is empty")
	case fn == nil:
		return errors.New("updating escalation: no update function")
	}
	err := s.inTx(ctx, "updating escalation", func(tx pgx.Tx) error {
		if err := lockIncidents(ctx, tx, incidentKey); err != nil {
			return err
		}
		return escalateTx(ctx, tx, incidentKey, s.opts.Now(), fn)
	})
	if ce := (*callerError)(nil); errors.As(err, &ce) {
		return fmt.Errorf("updating escalation of incident %s: %w", incidentKey, ce.err)
	}
	return err
}

// Statements of escalateTx. Ingest decides escalations in Go instead
// (ingestplan.go) and writes them with its own statements.
const (
	selectEscalation     = `SELECT ` + escalationColumns + `, e.notification_id FROM escalations AS e WHERE e.incident_key = $1`
	latestNotificationID = `SELECT coalesce(max(id), 0) FROM notifications WHERE incident_key = $1`
	incidentRoute        = `SELECT route FROM incidents WHERE incident_key = $1`
	deleteEscalation     = `DELETE FROM escalations WHERE incident_key = $1`
	insertNotification   = `INSERT INTO notifications (incident_key, received_at, payload) VALUES ($1, $2, $3) RETURNING id`
	insertDelivery       = `INSERT INTO outbox (channel, route, incident_key, kind, notification_id, created_at, next_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`
)

// escalateTx runs fn on the incident's escalation in tx, which holds the
// incident's lock, and applies the change it returns, at the given time.
func escalateTx(ctx context.Context, tx pgx.Tx, key string, at time.Time,
	fn func(*store.Escalation) (*store.EscalationChange, error)) error {
	cur, ref, err := readEscalation(ctx, tx, key)
	if err != nil {
		return err
	}
	change, err := fn(cur)
	if err != nil {
		return &callerError{err}
	}
	if change == nil {
		return nil
	}
	if err := validChange(change); err != nil {
		return &callerError{err}
	}
	if ref == 0 {
		if err := tx.QueryRow(ctx, latestNotificationID, key).Scan(&ref); err != nil {
			return err
		}
	}
	route, err := escalationRoute(ctx, tx, key, cur, change)
	if err != nil {
		return err
	}
	if err := recordChange(ctx, tx, key, route, cur, change, ref, at); err != nil {
		return err
	}
	return addDeliveries(ctx, tx, key, route, ref, change.Deliveries, at)
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
func readEscalation(ctx context.Context, tx pgx.Tx, key string) (*store.Escalation, int64, error) {
	var ref int64
	rows, err := tx.Query(ctx, selectEscalation, key)
	if err != nil {
		return nil, 0, err
	}
	e, err := pgx.CollectOneRow(rows, func(row pgx.CollectableRow) (store.Escalation, error) {
		return scanEscalation(row, &ref)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return &e, ref, nil
}

// escalationRoute is the change's route, else the escalation's, else the
// incident's.
func escalationRoute(ctx context.Context, tx pgx.Tx, key string, cur *store.Escalation, change *store.EscalationChange) (string, error) {
	switch {
	case change.Route != "":
		return change.Route, nil
	case cur != nil:
		return cur.Route, nil
	}
	var route string
	err := tx.QueryRow(ctx, incidentRoute, key).Scan(&route)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return route, err
}

// recordChange upserts or deletes the escalation.
func recordChange(ctx context.Context, tx pgx.Tx, key, route string, cur *store.Escalation, change *store.EscalationChange, ref int64, at time.Time) error {
	if change.Delete {
		_, err := tx.Exec(ctx, deleteEscalation, key)
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
	_, err := tx.Exec(ctx, upsertEscalation, key, route, policy, state, next, nanos(at), ref)
	return err
}

// addDeliveries adds the deliveries to the incident's outbox, in order.
// One with a payload of its own records it as a notification; the others
// carry the notification ref.
func addDeliveries(ctx context.Context, tx pgx.Tx, key, route string, ref int64, ds []store.NewDelivery, at time.Time) error {
	for i, d := range ds {
		id := ref
		if len(d.Payload) > 0 {
			if err := tx.QueryRow(ctx, insertNotification, key, nanos(at), d.Payload).Scan(&id); err != nil {
				return err
			}
		}
		if id == 0 {
			return &callerError{fmt.Errorf("delivery %d: no payload and no accepted payload of the incident", i)}
		}
		if _, err := tx.Exec(ctx, insertDelivery, d.Channel, route, key, d.Kind, id, nanos(at)); err != nil {
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
	err := s.use(ctx, "claiming escalations", func(c *pgxpool.Conn) error {
		var err error
		out, err = queryEscalations(ctx, c, claimEscalationsSQL,
			pgx.NamedArgs{"until": nanos(now.Add(lease)), "now": nanos(now), "limit": limit})
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
	var out []store.Escalation
	err := s.use(ctx, "listing escalations", func(c *pgxpool.Conn) error {
		var err error
		out, err = queryEscalations(ctx, c, `SELECT `+escalationColumns+` FROM escalations AS e ORDER BY e.incident_key`)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// escalationKeysSQL finds the keys that start with a prefix as the range
// [prefix, end of prefix), which the primary key's index answers without
// a scan; the keys compare byte by byte (COLLATE "C").
const escalationKeysSQL = `SELECT incident_key FROM escalations
WHERE incident_key >= @prefix AND (@end = '' OR incident_key < @end)
ORDER BY incident_key LIMIT @limit`

// EscalationKeys lists up to limit incident keys of escalations that start
// with prefix, in order. A prefix that is not valid UTF-8 starts no key,
// since PostgreSQL's text holds only valid UTF-8.
func (s *Store) EscalationKeys(ctx context.Context, prefix string, limit int) ([]string, error) {
	if limit <= 0 || !utf8.ValidString(prefix) || strings.ContainsRune(prefix, 0) {
		return nil, nil
	}
	var keys []string
	err := s.use(ctx, "finding escalations by key", func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, escalationKeysSQL,
			pgx.NamedArgs{"prefix": prefix, "end": prefixEnd(prefix), "limit": limit})
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return keys, nil
}

// prefixEnd is the least valid UTF-8 string greater than every string that
// starts with prefix, in byte order (which is code point order); "" when
// there is none (no prefix, or only the greatest code point).
func prefixEnd(prefix string) string {
	r := []rune(prefix)
	for i := len(r) - 1; i >= 0; i-- {
		next := r[i] + 1
		if next >= 0xd800 && next <= 0xdfff {
			next = 0xe000 // surrogates are not valid UTF-8
		}
		if next <= utf8.MaxRune {
			r[i] = next
			return string(r[:i+1])
		}
	}
	return ""
}

func queryEscalations(ctx context.Context, q queryer, query string, args ...any) ([]store.Escalation, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Escalation, error) { return scanEscalation(row) })
}

// scanEscalation reads escalationColumns and then extra.
func scanEscalation(row pgx.CollectableRow, extra ...any) (store.Escalation, error) {
	var e store.Escalation
	var next, updated int64
	dest := append([]any{&e.IncidentKey, &e.Route, &e.Policy, &e.State, &next, &updated, &e.Payload}, extra...)
	if err := row.Scan(dest...); err != nil {
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
	n, err := s.exec(ctx, "using nonce", `INSERT INTO nonces AS x (nonce, until) VALUES ($1, $2)
		ON CONFLICT (nonce) DO UPDATE SET until = excluded.until WHERE x.until <= $3`,
		nonce, nanos(until), nanos(s.opts.Now()))
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

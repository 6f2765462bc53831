package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/batch"
)

// Ingest records a notification through the committer, which records
// every queued call in one transaction (package batch).
func (s *Store) Ingest(ctx context.Context, in *store.Ingest) (store.IngestResult, error) {
	return s.committer.Ingest(ctx, in)
}

// ingestRetries is how many times a batch's transaction is tried again
// after PostgreSQL aborted it to break a deadlock or for a serialization
// failure; after that its calls fail with store.ErrUnavailable.
const ingestRetries = 2

// SQLSTATEs of the aborts that ingestRetries are for.
const (
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

// commit records the committer's calls in one transaction, bounded by
// CommitTimeout, tried again from the start, up to ingestRetries times,
// when PostgreSQL aborts it for another transaction's sake: it then
// recorded nothing, and the calls are decided afresh.
func (s *Store) commit(calls []*batch.Call, results []store.IngestResult, refused []error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommitTimeout)
	defer cancel()
	for try := 0; ; try++ {
		err := s.inTx(ctx, "recording notification", func(tx pgx.Tx) error {
			return ingestTx(ctx, tx, calls, results, refused)
		})
		if err == nil || try == ingestRetries || !retryable(err) {
			return err
		}
		s.opts.Logger.Warn("recording notifications again", "calls", len(calls), "err", err)
	}
}

// retryable reports whether err is PostgreSQL's abort of a transaction
// that may succeed when tried again: a deadlock it broke, or a
// serialization failure.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == serializationFailure || pgErr.Code == deadlockDetected)
}

// committed tells OnCommit of a committed batch.
func (s *Store) committed(_ []*batch.Call, recorded int) {
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(recorded)
	}
}

// Statements of one ingest. The first round trip locks the batch's
// incidents, reads their recorded states and escalations and draws the
// ids of the batch's notifications and channel deliveries; planIngest
// decides the calls in Go; the second round trip writes the plan, a
// multi-row statement per table.
const (
	// indexOnly has the transaction's statements find rows by their
	// indexes: each looks up at most a batch's keys, but on a table that
	// ANALYZE has not seen since it grew (a new database, or one that
	// grew fast) the planner may guess a sequential scan cheaper, and
	// keep that plan cached, which costs as much as the table is large.
	indexOnly            = `SET LOCAL enable_seqscan = off`
	selectIncidentStates = `SELECT incident_key, state_hash, alerts FROM incidents WHERE incident_key = ANY($1)`
	selectEscalations    = `SELECT e.incident_key, e.route, e.policy, e.state, e.next_at, e.updated_at
		FROM escalations AS e WHERE e.incident_key = ANY($1)`
	// drawIDs draws $1 notification ids and $2 outbox ids.
	drawIDs = `SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('notifications', 'id')) FROM generate_series(1, $1)),
		ARRAY(SELECT nextval(pg_get_serial_sequence('outbox', 'id')) FROM generate_series(1, $2))`
	upsertIncidents = `INSERT INTO incidents AS i (incident_key, route, group_key, status, state_hash, alerts, first_seen, updated_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
		ON CONFLICT (incident_key) DO UPDATE SET route = excluded.route, group_key = excluded.group_key,
			status = excluded.status, state_hash = excluded.state_hash, alerts = excluded.alerts,
			updated_at = excluded.updated_at`
	insertNotifications = `INSERT INTO notifications (id, incident_key, received_at, payload) OVERRIDING SYSTEM VALUE
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bytea[])`
	insertDeliveries = `INSERT INTO outbox (id, channel, route, incident_key, kind, notification_id, created_at, next_attempt_at) OVERRIDING SYSTEM VALUE
		SELECT id, channel, route, incident_key, kind, notification_id, created_at, created_at
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
			AS d (id, channel, route, incident_key, kind, notification_id, created_at)`
	upsertEscalations = `INSERT INTO escalations
			(incident_key, route, policy, state, next_at, lease_until, updated_at, notification_id)
		SELECT k, r, p, s, n, 0, u, ref FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint[], $6::bigint[], $7::bigint[])
			AS e (k, r, p, s, n, u, ref)
		ON CONFLICT (incident_key) DO UPDATE SET route = excluded.route, policy = excluded.policy,
			state = excluded.state, next_at = excluded.next_at, lease_until = 0,
			updated_at = excluded.updated_at, notification_id = excluded.notification_id`
	deleteEscalations = `DELETE FROM escalations WHERE incident_key = ANY($1)`
	referEscalations  = `UPDATE escalations AS e SET notification_id = r.ref FROM unnest($1::text[], $2::bigint[]) AS r (k, ref) WHERE e.incident_key = r.k`
)

// ingestTx records calls in tx in two round trips between its BEGIN and
// COMMIT (see the statements above), deciding each call as if it were
// recorded on its own after the ones before it. A call whose Escalate
// fails records nothing, its error in refused[i].
func ingestTx(ctx context.Context, tx pgx.Tx, calls []*batch.Call, results []store.IngestResult, refused []error) error {
	ins := make([]*store.Ingest, len(calls))
	keys := make([]string, 0, len(calls))
	seen := make(map[string]bool, len(calls))
	channels := 0
	for i, c := range calls {
		ins[i] = c.In
		channels += len(c.In.Channels)
		if !seen[c.In.IncidentKey] {
			seen[c.In.IncidentKey] = true
			keys = append(keys, c.In.IncidentKey)
		}
	}
	read, err := readBatch(ctx, tx, keys, len(calls), channels)
	if err != nil {
		return err
	}
	plan, err := planIngest(ins, read.states, read.escalations)
	if err != nil {
		return err
	}
	if err := read.ids.draw(ctx, tx, len(plan.notifications), len(plan.deliveries)); err != nil {
		return err
	}
	if err := writePlan(ctx, tx, plan, read.ids); err != nil {
		return err
	}
	copy(results, plan.results)
	copy(refused, plan.refused)
	return nil
}

// batchRead is what the first round trip of an ingest reads.
type batchRead struct {
	states      map[string]*store.Recorded
	escalations map[string]*store.Escalation
	ids         drawn
}

// readBatch locks the incidents and reads their states and escalations,
// and draws notifications notification ids and deliveries outbox ids, in
// one round trip.
func readBatch(ctx context.Context, tx pgx.Tx, incidents []string, notifications, deliveries int) (*batchRead, error) {
	b := &pgx.Batch{}
	b.Queue(indexOnly)
	b.Queue(lockSQL, lockKeys(incidents))
	b.Queue(selectIncidentStates, incidents)
	b.Queue(selectEscalations, incidents)
	b.Queue(drawIDs, notifications, deliveries)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	read := &batchRead{}
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	var err error
	if read.states, err = scanRecorded(br, len(incidents)); err != nil {
		return nil, err
	}
	if read.escalations, err = scanEscalations(br); err != nil {
		return nil, err
	}
	if err := br.QueryRow().Scan(&read.ids.notifications, &read.ids.deliveries); err != nil {
		return nil, err
	}
	return read, br.Close()
}

// scanRecorded reads the result of selectIncidentStates.
func scanRecorded(br pgx.BatchResults, n int) (map[string]*store.Recorded, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	states := make(map[string]*store.Recorded, n)
	for rows.Next() {
		var key, alerts string
		var cur store.Recorded
		if err := rows.Scan(&key, &cur.StateHash, &alerts); err != nil {
			return nil, err
		}
		if cur.Alerts, err = store.DecodeAlerts(alerts); err != nil {
			return nil, fmt.Errorf("incident %s: %w", key, err)
		}
		states[key] = &cur
	}
	return states, rows.Err()
}

// scanEscalations reads the result of selectEscalations.
func scanEscalations(br pgx.BatchResults) (map[string]*store.Escalation, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	escs := make(map[string]*store.Escalation)
	for rows.Next() {
		var e store.Escalation
		var next, updated int64
		if err := rows.Scan(&e.IncidentKey, &e.Route, &e.Policy, &e.State, &next, &updated); err != nil {
			return nil, err
		}
		e.NextAt, e.UpdatedAt = fromNanos(next), fromNanos(updated)
		escs[e.IncidentKey] = &e
	}
	return escs, rows.Err()
}

// drawn are ids drawn from the notifications' and the outbox's identity
// sequences, for the batch to insert in ascending order.
type drawn struct {
	notifications, deliveries []int64
}

// draw makes sure that there are at least the ids given, drawing the
// missing ones (for an escalation's deliveries), and sorts them.
func (d *drawn) draw(ctx context.Context, tx pgx.Tx, notifications, deliveries int) error {
	more, moreDeliveries := notifications-len(d.notifications), deliveries-len(d.deliveries)
	if more > 0 || moreDeliveries > 0 {
		var n, o []int64
		if err := tx.QueryRow(ctx, drawIDs, max(more, 0), max(moreDeliveries, 0)).Scan(&n, &o); err != nil {
			return err
		}
		d.notifications, d.deliveries = append(d.notifications, n...), append(d.deliveries, o...)
	}
	slices.Sort(d.notifications)
	slices.Sort(d.deliveries)
	return nil
}

// writePlan writes the plan in one round trip, the notifications and
// deliveries with the ids drawn, the k-th of the plan's with the k-th
// smallest: in the order that one transaction per call would give them.
func writePlan(ctx context.Context, tx pgx.Tx, p *ingestPlan, ids drawn) error {
	b := &pgx.Batch{}
	if len(p.incidents) > 0 {
		queueIncidents(b, p.incidents)
	}
	if len(p.notifications) > 0 {
		queueNotifications(b, p.notifications, ids.notifications)
	}
	if len(p.deliveries) > 0 {
		queueDeliveries(b, p.deliveries, ids)
	}
	queueEscalations(b, p.escalations, ids.notifications)
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

func queueIncidents(b *pgx.Batch, rows []incidentRow) {
	n := len(rows)
	keys, routes, groups, statuses, hashes, alerts := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	first, updated := make([]int64, n), make([]int64, n)
	for i, r := range rows {
		keys[i], routes[i], groups[i], statuses[i], hashes[i], alerts[i] = r.key, r.route, r.groupKey, r.status, r.stateHash, r.alerts
		first[i], updated[i] = r.firstSeen, r.updatedAt
	}
	b.Queue(upsertIncidents, keys, routes, groups, statuses, hashes, alerts, first, updated)
}

func queueNotifications(b *pgx.Batch, rows []notificationRow, ids []int64) {
	n := len(rows)
	keys, at, payloads := make([]string, n), make([]int64, n), make([][]byte, n)
	for i, r := range rows {
		keys[i], at[i], payloads[i] = r.key, r.receivedAt, r.payload
	}
	b.Queue(insertNotifications, ids[:n], keys, at, payloads)
}

func queueDeliveries(b *pgx.Batch, rows []deliveryRow, ids drawn) {
	n := len(rows)
	channels, routes, keys, kinds := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	notes, at := make([]int64, n), make([]int64, n)
	for i, r := range rows {
		channels[i], routes[i], keys[i], kinds[i] = r.channel, r.route, r.key, r.kind
		notes[i], at[i] = ids.notifications[r.notification], r.createdAt
	}
	b.Queue(insertDeliveries, ids.deliveries[:n], channels, routes, keys, kinds, notes, at)
}

func queueEscalations(b *pgx.Batch, ws []escalationWrite, noteIDs []int64) {
	var upKeys, routes, policies []string
	var states [][]byte
	var next, updated, refs []int64
	var deleted, referKeys []string
	var referRefs []int64
	for _, w := range ws {
		switch w.op {
		case escalationUpserted:
			upKeys, routes, policies = append(upKeys, w.key), append(routes, w.cur.Route), append(policies, w.cur.Policy)
			states, next, updated = append(states, w.cur.State), append(next, w.nextAt), append(updated, w.updated)
			refs = append(refs, noteIDs[w.notification])
		case escalationDeleted:
			deleted = append(deleted, w.key)
		case escalationReferred:
			referKeys, referRefs = append(referKeys, w.key), append(referRefs, noteIDs[w.notification])
		}
	}
	if len(deleted) > 0 {
		b.Queue(deleteEscalations, deleted)
	}
	if len(upKeys) > 0 {
		b.Queue(upsertEscalations, upKeys, routes, policies, states, next, updated, refs)
	}
	if len(referKeys) > 0 {
		b.Queue(referEscalations, referKeys, referRefs)
	}
}

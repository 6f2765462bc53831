package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/batch"
)

// Ingest records a notification through the committer, which records
// every queued call in one transaction (package batch).
func (s *Store) Ingest(ctx context.Context, in *store.Ingest) (store.IngestResult, error) {
	return s.committer.Ingest(ctx, in)
}

// commit records the committer's calls in one transaction, bounded by
// CommitTimeout.
func (s *Store) commit(calls []*batch.Call, results []store.IngestResult, refused []error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommitTimeout)
	defer cancel()
	return s.inTx(ctx, "recording notification", func(tx pgx.Tx) error {
		return ingestTx(ctx, tx, calls, results, refused)
	})
}

// committed tells OnCommit of a committed batch.
func (s *Store) committed(_ []*batch.Call, recorded int) {
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(recorded)
	}
}

// Statements of one ingest. The incidents' recorded states are read once
// their locks are held, and each notification is compared with its
// incident's (store.Offer) before it is written.
const (
	selectIncidentStates = `SELECT incident_key, state_hash, alerts FROM incidents WHERE incident_key = ANY($1)`
	upsertIncident       = `INSERT INTO incidents AS i (incident_key, route, group_key, status, state_hash, alerts, first_seen, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
		ON CONFLICT (incident_key) DO UPDATE SET route = excluded.route, group_key = excluded.group_key,
			status = excluded.status, state_hash = excluded.state_hash, alerts = excluded.alerts,
			updated_at = excluded.updated_at`
	insertNotification = `INSERT INTO notifications (incident_key, received_at, payload) VALUES ($1, $2, $3) RETURNING id`
	insertDelivery     = `INSERT INTO outbox (channel, route, incident_key, kind, notification_id, created_at, next_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`
)

// ingestTx records reqs in tx, after locking their incidents. A call whose
// Escalate fails is rolled back alone, its error in refused[i].
func ingestTx(ctx context.Context, tx pgx.Tx, reqs []*batch.Call, results []store.IngestResult, refused []error) error {
	keys := make([]string, len(reqs))
	for i, req := range reqs {
		keys[i] = req.In.IncidentKey
	}
	if err := lockIncidents(ctx, tx, keys...); err != nil {
		return err
	}
	states, err := readRecorded(ctx, tx, keys)
	if err != nil {
		return err
	}
	for i, req := range reqs {
		var next *store.Recorded
		if req.In.Escalate != nil {
			results[i], next, refused[i], err = ingestEscalated(ctx, tx, req, states[req.In.IncidentKey])
		} else {
			results[i], next, _, err = ingestOne(ctx, tx, req, states[req.In.IncidentKey])
		}
		if err != nil {
			return err
		}
		if next != nil {
			states[req.In.IncidentKey] = next
		}
	}
	return nil
}

// readRecorded returns the recorded states of those of the incidents the
// store has seen.
func readRecorded(ctx context.Context, tx pgx.Tx, keys []string) (map[string]*store.Recorded, error) {
	rows, err := tx.Query(ctx, selectIncidentStates, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	states := make(map[string]*store.Recorded, len(keys))
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

// ingestOne records one notification of an incident whose recorded state
// is cur (nil if none), and returns the id of its payload and the state
// it recorded (nil for a Duplicate).
func ingestOne(ctx context.Context, tx pgx.Tx, req *batch.Call, cur *store.Recorded) (store.IngestResult, *store.Recorded, int64, error) {
	in, at := req.In, nanos(req.In.ReceivedAt)
	next, news := store.Offer(cur, in)
	if !news {
		return store.IngestResult{Duplicate: true}, nil, 0, nil
	}
	alerts, err := store.EncodeAlerts(next.Alerts)
	if err != nil {
		return store.IngestResult{}, nil, 0, err
	}
	if _, err := tx.Exec(ctx, upsertIncident, in.IncidentKey, in.Route, in.GroupKey, in.Status, in.StateHash, alerts, at); err != nil {
		return store.IngestResult{}, nil, 0, err
	}
	var id int64
	if err := tx.QueryRow(ctx, insertNotification, in.IncidentKey, at, in.Payload).Scan(&id); err != nil {
		return store.IngestResult{}, nil, 0, err
	}
	for _, ch := range in.Channels {
		if _, err := tx.Exec(ctx, insertDelivery, ch, in.Route, in.IncidentKey, in.Kind, id, at); err != nil {
			return store.IngestResult{}, nil, 0, err
		}
	}
	return store.IngestResult{Deliveries: len(in.Channels)}, &next, id, nil
}

// ingestEscalated records one notification and runs its Escalate hook,
// within a savepoint: when the hook fails, what the call recorded is
// rolled back, the rest of the transaction goes on, and the hook's error
// is returned as refused. It returns the state recorded, nil if none.
func ingestEscalated(ctx context.Context, tx pgx.Tx, req *batch.Call, cur *store.Recorded) (res store.IngestResult, next *store.Recorded, refused, err error) {
	if _, err := tx.Exec(ctx, `SAVEPOINT escalate`); err != nil {
		return res, nil, nil, err
	}
	in := req.In
	res, next, id, err := ingestOne(ctx, tx, req, cur)
	if err == nil && !res.Duplicate {
		var n int
		n, err = escalateTx(ctx, tx, in.IncidentKey, accepted{id: id, payload: in.Payload, route: in.Route}, in.ReceivedAt, in.Escalate.Escalate)
		res.Deliveries += n
	}
	var ce *callerError
	if errors.As(err, &ce) {
		if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT escalate`); err != nil {
			return store.IngestResult{}, nil, nil, err
		}
		refused = fmt.Errorf("recording notification: escalating incident %s: %w", in.IncidentKey, ce.err)
		res, next, err = store.IngestResult{}, nil, nil
	}
	if err != nil {
		return store.IngestResult{}, nil, nil, err
	}
	if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT escalate`); err != nil {
		return store.IngestResult{}, nil, nil, err
	}
	return res, next, refused, nil
}

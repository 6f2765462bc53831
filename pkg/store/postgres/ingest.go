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

// Statements of one ingest. The upsert changes no row when the incident's
// recorded state is the one offered: the notification is a repeat.
const (
	upsertIncident = `INSERT INTO incidents AS i (incident_key, route, group_key, status, state_hash, first_seen, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)
		ON CONFLICT (incident_key) DO UPDATE SET route = excluded.route, group_key = excluded.group_key,
			status = excluded.status, state_hash = excluded.state_hash, updated_at = excluded.updated_at
		WHERE i.state_hash <> excluded.state_hash`
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
	for i, req := range reqs {
		var err error
		if req.In.Escalate != nil {
			results[i], refused[i], err = ingestEscalated(ctx, tx, req)
		} else {
			results[i], _, err = ingestOne(ctx, tx, req)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ingestOne records one notification and returns the id of its payload.
func ingestOne(ctx context.Context, tx pgx.Tx, req *batch.Call) (store.IngestResult, int64, error) {
	in, at := req.In, nanos(req.In.ReceivedAt)
	tag, err := tx.Exec(ctx, upsertIncident, in.IncidentKey, in.Route, in.GroupKey, in.Status, in.StateHash, at)
	if err != nil {
		return store.IngestResult{}, 0, err
	}
	if tag.RowsAffected() == 0 {
		return store.IngestResult{Duplicate: true}, 0, nil
	}
	var id int64
	if err := tx.QueryRow(ctx, insertNotification, in.IncidentKey, at, in.Payload).Scan(&id); err != nil {
		return store.IngestResult{}, 0, err
	}
	for _, ch := range in.Channels {
		if _, err := tx.Exec(ctx, insertDelivery, ch, in.Route, in.IncidentKey, in.Kind, id, at); err != nil {
			return store.IngestResult{}, 0, err
		}
	}
	return store.IngestResult{Deliveries: len(in.Channels)}, id, nil
}

// ingestEscalated records one notification and runs its Escalate hook,
// within a savepoint: when the hook fails, what the call recorded is
// rolled back, the rest of the transaction goes on, and the hook's error
// is returned as refused.
func ingestEscalated(ctx context.Context, tx pgx.Tx, req *batch.Call) (res store.IngestResult, refused, err error) {
	if _, err := tx.Exec(ctx, `SAVEPOINT escalate`); err != nil {
		return res, nil, err
	}
	in := req.In
	res, id, err := ingestOne(ctx, tx, req)
	if err == nil && !res.Duplicate {
		var n int
		n, err = escalateTx(ctx, tx, in.IncidentKey, accepted{id: id, payload: in.Payload, route: in.Route}, in.ReceivedAt, in.Escalate.Escalate)
		res.Deliveries += n
	}
	var ce *callerError
	if errors.As(err, &ce) {
		if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT escalate`); err != nil {
			return store.IngestResult{}, nil, err
		}
		refused = fmt.Errorf("recording notification: escalating incident %s: %w", in.IncidentKey, ce.err)
		res, err = store.IngestResult{}, nil
	}
	if err != nil {
		return store.IngestResult{}, nil, err
	}
	if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT escalate`); err != nil {
		return store.IngestResult{}, nil, err
	}
	return res, refused, nil
}

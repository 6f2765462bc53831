package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/batch"
)

// Ingest records a notification through the committer, which records
// every queued call in one transaction (package batch).
func (s *Store) Ingest(ctx context.Context, in *store.Ingest) (store.IngestResult, error) {
	return s.committer.Ingest(ctx, in)
}

// commit records the committer's calls in one transaction on the writer.
func (s *Store) commit(calls []*batch.Call, results []store.IngestResult, refused []error) error {
	ctx := context.Background()
	return s.write(ctx, "recording notification", func(c *sql.Conn) error {
		return s.ingestTx(ctx, c, calls, results, refused)
	})
}

// committed tells the checkpointer and OnCommit of a committed batch.
func (s *Store) committed(calls []*batch.Call, recorded int) {
	s.wrote(calls)
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(recorded)
	}
}

// Statements of one ingest. The incident's recorded state is read and
// compared with the notification (store.Offer) before it is written.
const (
	selectIncidentState = `SELECT state_hash, alerts FROM incidents WHERE incident_key = ?`
	upsertIncident      = `INSERT INTO incidents (incident_key, route, group_key, status, state_hash, alerts, first_seen, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
		ON CONFLICT (incident_key) DO UPDATE SET route = excluded.route, group_key = excluded.group_key,
			status = excluded.status, state_hash = excluded.state_hash, alerts = excluded.alerts,
			updated_at = excluded.updated_at`
	insertNotification = `INSERT INTO notifications (incident_key, received_at, payload) VALUES (?, ?, ?)`
	insertDelivery     = `INSERT INTO outbox (channel, route, incident_key, kind, notification_id, created_at, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`

	savepoint           = `SAVEPOINT escalate`
	rollbackToSavepoint = `ROLLBACK TO escalate`
	releaseSavepoint    = `RELEASE escalate`
)

// ingestStatements are what the committer runs, prepared once at start.
var ingestStatements = []string{
	selectIncidentState, upsertIncident, insertNotification, insertDelivery, savepoint, rollbackToSavepoint, releaseSavepoint,
	selectEscalation, setEscalationNotification, latestNotificationID, incidentRoute, deleteEscalation,
	upsertEscalation,
}

// ingestTx records reqs in one transaction. A call whose Escalate fails
// is rolled back alone, its error in refused[i].
func (s *Store) ingestTx(ctx context.Context, c *sql.Conn, reqs []*batch.Call, results []store.IngestResult, refused []error) error {
	tx, err := s.begin(ctx, c)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit, which also closes the statements
	for i, req := range reqs {
		if req.In.Escalate != nil {
			results[i], refused[i], err = ingestEscalated(ctx, tx, req)
		} else {
			results[i], _, err = ingestOne(ctx, tx, req)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ingestOne records one notification and returns the id of its payload.
func ingestOne(ctx context.Context, tx *writeTx, req *batch.Call) (store.IngestResult, int64, error) {
	in, at := req.In, req.In.ReceivedAt
	cur, err := readRecorded(ctx, tx, in.IncidentKey)
	if err != nil {
		return store.IngestResult{}, 0, err
	}
	next, news := store.Offer(cur, in)
	if !news {
		return store.IngestResult{Duplicate: true}, 0, nil
	}
	alerts, err := store.EncodeAlerts(next.Alerts)
	if err != nil {
		return store.IngestResult{}, 0, err
	}
	if _, err := tx.ExecContext(ctx, upsertIncident, in.IncidentKey, in.Route, in.GroupKey, in.Status, in.StateHash, alerts, nanos(at)); err != nil {
		return store.IngestResult{}, 0, err
	}
	res, err := tx.ExecContext(ctx, insertNotification, in.IncidentKey, nanos(at), in.Payload)
	if err != nil {
		return store.IngestResult{}, 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return store.IngestResult{}, 0, err
	}
	for _, ch := range in.Channels {
		if _, err := tx.ExecContext(ctx, insertDelivery, ch, in.Route, in.IncidentKey, in.Kind, id, nanos(at), nanos(at)); err != nil {
			return store.IngestResult{}, 0, err
		}
	}
	return store.IngestResult{Deliveries: len(in.Channels)}, id, nil
}

// readRecorded returns the incident's recorded state, nil if the store
// has not seen it.
func readRecorded(ctx context.Context, tx *writeTx, key string) (*store.Recorded, error) {
	rows, err := tx.QueryContext(ctx, selectIncidentState, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	var cur store.Recorded
	var alerts string
	if err := rows.Scan(&cur.StateHash, &alerts); err != nil {
		return nil, err
	}
	if cur.Alerts, err = store.DecodeAlerts(alerts); err != nil {
		return nil, fmt.Errorf("incident %s: %w", key, err)
	}
	return &cur, rows.Close()
}

// ingestEscalated records one notification and runs its Escalate hook,
// within a savepoint: when the hook fails, what the call recorded is
// rolled back, the rest of the transaction goes on, and the hook's error
// is returned as refused.
func ingestEscalated(ctx context.Context, tx *writeTx, req *batch.Call) (res store.IngestResult, refused, err error) {
	if _, err := tx.ExecContext(ctx, savepoint); err != nil {
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
		if _, err := tx.ExecContext(ctx, rollbackToSavepoint); err != nil {
			return store.IngestResult{}, nil, err
		}
		refused = fmt.Errorf("recording notification: escalating incident %s: %w", in.IncidentKey, ce.err)
		res, err = store.IngestResult{}, nil
	}
	if err != nil {
		return store.IngestResult{}, nil, err
	}
	if _, err := tx.ExecContext(ctx, releaseSavepoint); err != nil {
		return store.IngestResult{}, nil, err
	}
	return res, refused, nil
}

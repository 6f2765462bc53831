package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// errClosed answers Ingest calls after Close.
var errClosed = fmt.Errorf("%w: closed", store.ErrUnavailable)

// ingestReq is one Ingest call waiting for the committer.
type ingestReq struct {
	ctx    context.Context
	in     *store.Ingest
	answer chan ingestAnswer
}

type ingestAnswer struct {
	res store.IngestResult
	err error
}

// Ingest records a notification. The call waits for the committer, which
// records every queued call in one transaction, until ctx ends. A call
// whose ctx ends after its transaction started may still be recorded; a
// retry of it is then a Duplicate.
func (s *Store) Ingest(ctx context.Context, in *store.Ingest) (store.IngestResult, error) {
	if err := validate(in); err != nil {
		return store.IngestResult{}, err
	}
	req := &ingestReq{ctx: ctx, in: in, answer: make(chan ingestAnswer, 1)}
	select {
	case s.ingests <- req:
	case <-s.stop:
		return store.IngestResult{}, unavailable("recording notification", errClosed)
	case <-ctx.Done():
		return store.IngestResult{}, unavailable("waiting to record notification", context.Cause(ctx))
	}
	select {
	case a := <-req.answer:
		return a.res, a.err
	case <-s.done:
		select {
		case a := <-req.answer:
			return a.res, a.err
		default:
			return store.IngestResult{}, unavailable("recording notification", errClosed)
		}
	case <-ctx.Done():
		return store.IngestResult{}, unavailable("waiting to record notification", context.Cause(ctx))
	}
}

func validate(in *store.Ingest) error {
	switch {
	case in == nil:
		return errors.New("ingest: nothing to record")
	case in.IncidentKey == "":
		return errors.New("ingest: incident key is empty")
	case in.StateHash == "":
		return errors.New("ingest: state hash is empty")
	case in.Kind == "":
		return errors.New("ingest: kind is empty")
	case len(in.Payload) == 0:
		return errors.New("ingest: payload is empty")
	case in.ReceivedAt.IsZero():
		return errors.New("ingest: received time is zero")
	}
	return nil
}

// commitLoop is the committer: it takes every queued call, up to
// MaxBatch, and records them in one transaction.
func (s *Store) commitLoop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			s.refuseQueued()
			return
		case req := <-s.ingests:
			s.commit(s.collect(req))
		}
	}
}

func (s *Store) collect(first *ingestReq) []*ingestReq {
	batch := []*ingestReq{first}
	for len(batch) < s.opts.MaxBatch {
		select {
		case req := <-s.ingests:
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}

func (s *Store) refuseQueued() {
	for {
		select {
		case req := <-s.ingests:
			req.answer <- ingestAnswer{err: unavailable("recording notification", errClosed)}
		default:
			return
		}
	}
}

// commit records the batch's live calls in order, in one transaction, so
// that the second of two notifications of an incident is compared with the
// first. If the transaction fails, every call in it fails.
func (s *Store) commit(batch []*ingestReq) {
	live := batch[:0]
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.answer <- ingestAnswer{err: unavailable("waiting to record notification", context.Cause(req.ctx))}
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	results := make([]store.IngestResult, len(live))
	refused := make([]error, len(live))
	ctx := context.Background()
	err := s.write(ctx, "recording notification", func(c *sql.Conn) error {
		return s.ingestTx(ctx, c, live, results, refused)
	})
	recorded := 0
	for i := range live {
		if err == nil && refused[i] == nil {
			recorded++
		}
	}
	// Count the commit before answering, so that whoever got its answer
	// finds its notification counted.
	if recorded > 0 {
		s.batchSize.Observe(float64(recorded))
	}
	for i, req := range live {
		switch {
		case err != nil:
			req.answer <- ingestAnswer{err: err}
		case refused[i] != nil:
			req.answer <- ingestAnswer{err: refused[i]}
		default:
			req.answer <- ingestAnswer{res: results[i]}
		}
	}
	// The answered handlers are queued on this goroutine's P: let them
	// write their responses now rather than after the next batch's
	// statements, so that their senders can post again sooner.
	runtime.Gosched()
	if recorded > 0 {
		s.wrote(live)
		if s.opts.OnCommit != nil {
			s.opts.OnCommit(recorded)
		}
	}
}

// Statements of one ingest. The upsert changes no row when the incident's
// recorded state is the one offered: the notification is a repeat.
const (
	upsertIncident = `INSERT INTO incidents (incident_key, route, group_key, status, state_hash, first_seen, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (incident_key) DO UPDATE SET route = excluded.route, group_key = excluded.group_key,
			status = excluded.status, state_hash = excluded.state_hash, updated_at = excluded.updated_at
		WHERE state_hash <> excluded.state_hash`
	insertNotification = `INSERT INTO notifications (incident_key, received_at, payload) VALUES (?, ?, ?)`
	insertDelivery     = `INSERT INTO outbox (channel, route, incident_key, kind, notification_id, created_at, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`

	savepoint           = `SAVEPOINT escalate`
	rollbackToSavepoint = `ROLLBACK TO escalate`
	releaseSavepoint    = `RELEASE escalate`
)

// ingestStatements are what the committer runs, prepared once at start.
var ingestStatements = []string{
	upsertIncident, insertNotification, insertDelivery, savepoint, rollbackToSavepoint, releaseSavepoint,
	selectEscalation, setEscalationNotification, latestNotificationID, incidentRoute, deleteEscalation,
	upsertEscalation,
}

// ingestTx records reqs in one transaction. A call whose Escalate fails
// is rolled back alone, its error in refused[i].
func (s *Store) ingestTx(ctx context.Context, c *sql.Conn, reqs []*ingestReq, results []store.IngestResult, refused []error) error {
	tx, err := s.begin(ctx, c)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit, which also closes the statements
	for i, req := range reqs {
		if req.in.Escalate != nil {
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
func ingestOne(ctx context.Context, tx *writeTx, req *ingestReq) (store.IngestResult, int64, error) {
	in, at := req.in, req.in.ReceivedAt
	res, err := tx.ExecContext(ctx, upsertIncident, in.IncidentKey, in.Route, in.GroupKey, in.Status, in.StateHash, nanos(at), nanos(at))
	if err != nil {
		return store.IngestResult{}, 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return store.IngestResult{}, 0, err
	}
	if n == 0 {
		return store.IngestResult{Duplicate: true}, 0, nil
	}
	res, err = tx.ExecContext(ctx, insertNotification, in.IncidentKey, nanos(at), in.Payload)
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

// ingestEscalated records one notification and runs its Escalate hook,
// within a savepoint: when the hook fails, what the call recorded is
// rolled back, the rest of the transaction goes on, and the hook's error
// is returned as refused.
func ingestEscalated(ctx context.Context, tx *writeTx, req *ingestReq) (res store.IngestResult, refused, err error) {
	if _, err := tx.ExecContext(ctx, savepoint); err != nil {
		return res, nil, err
	}
	in := req.in
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

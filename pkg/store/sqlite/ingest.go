package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
)

// ingestStmts are the ingest statements, prepared once on the writer's
// *sql.DB. database/sql keeps each one's driver statement per connection,
// so a transaction reuses them, and prepares them again on the connection
// that replaces one discarded after a fault.
type ingestStmts struct {
	incident, notification, delivery *sql.Stmt
}

func (st *ingestStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range st.all() {
		var err error
		if *p.stmt, err = db.PrepareContext(ctx, p.sql); err != nil {
			return err
		}
	}
	return nil
}

// stmtText is a statement and its SQL.
type stmtText struct {
	stmt **sql.Stmt
	sql  string
}

func (st *ingestStmts) all() []stmtText {
	return []stmtText{{&st.incident, upsertIncident}, {&st.notification, insertNotification}, {&st.delivery, insertDelivery}}
}

// in returns the statements bound to tx.
func (st *ingestStmts) in(ctx context.Context, tx *sql.Tx) *ingestStmts {
	return &ingestStmts{
		incident:     tx.StmtContext(ctx, st.incident),
		notification: tx.StmtContext(ctx, st.notification),
		delivery:     tx.StmtContext(ctx, st.delivery),
	}
}

func (st *ingestStmts) close() error {
	var errs []error
	for _, p := range st.all() {
		if *p.stmt != nil {
			errs = append(errs, (*p.stmt).Close())
		}
	}
	return errors.Join(errs...)
}

// ingestTx records reqs in one transaction. A call whose Escalate fails
// is rolled back alone, its error in refused[i].
func (s *Store) ingestTx(ctx context.Context, c *sql.Conn, reqs []*ingestReq, results []store.IngestResult, refused []error) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit, which also closes st's statements
	st := s.stmts.in(ctx, tx)
	for i, req := range reqs {
		if req.in.Escalate != nil {
			results[i], refused[i], err = ingestEscalated(ctx, tx, st, req)
		} else {
			results[i], _, err = ingestOne(ctx, st, req)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ingestOne records one notification and returns the id of its payload.
func ingestOne(ctx context.Context, st *ingestStmts, req *ingestReq) (store.IngestResult, int64, error) {
	in, at := req.in, req.in.ReceivedAt
	res, err := st.incident.ExecContext(ctx, in.IncidentKey, in.Route, in.GroupKey, in.Status, in.StateHash, nanos(at), nanos(at))
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
	res, err = st.notification.ExecContext(ctx, in.IncidentKey, nanos(at), in.Payload)
	if err != nil {
		return store.IngestResult{}, 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return store.IngestResult{}, 0, err
	}
	for _, ch := range in.Channels {
		if _, err := st.delivery.ExecContext(ctx, ch, in.Route, in.IncidentKey, in.Kind, id, nanos(at), nanos(at)); err != nil {
			return store.IngestResult{}, 0, err
		}
	}
	return store.IngestResult{Deliveries: len(in.Channels)}, id, nil
}

// ingestEscalated records one notification and runs its Escalate hook,
// within a savepoint: when the hook fails, what the call recorded is
// rolled back, the rest of the transaction goes on, and the hook's error
// is returned as refused.
func ingestEscalated(ctx context.Context, tx *sql.Tx, st *ingestStmts, req *ingestReq) (res store.IngestResult, refused, err error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT escalate"); err != nil {
		return res, nil, err
	}
	in := req.in
	res, id, err := ingestOne(ctx, st, req)
	if err == nil && !res.Duplicate {
		var n int
		n, err = escalateTx(ctx, tx, in.IncidentKey, accepted{id: id, payload: in.Payload, route: in.Route}, in.ReceivedAt, in.Escalate)
		res.Deliveries += n
	}
	var ce *callerError
	if errors.As(err, &ce) {
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO escalate"); err != nil {
			return store.IngestResult{}, nil, err
		}
		refused = fmt.Errorf("recording notification: escalating incident %s: %w", in.IncidentKey, ce.err)
		res, err = store.IngestResult{}, nil
	}
	if err != nil {
		return store.IngestResult{}, nil, err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE escalate"); err != nil {
		return store.IngestResult{}, nil, err
	}
	return res, refused, nil
}

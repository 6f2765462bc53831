package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/jackc/pgx/v5"

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
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommitTimeout)
	err := s.inTx(ctx, "recording notification", func(tx pgx.Tx) error {
		return ingestTx(ctx, tx, live, results, refused)
	})
	cancel()
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
	// Let the answered handlers write their responses now rather than
	// after the next batch's statements.
	runtime.Gosched()
	if recorded > 0 && s.opts.OnCommit != nil {
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
func ingestTx(ctx context.Context, tx pgx.Tx, reqs []*ingestReq, results []store.IngestResult, refused []error) error {
	keys := make([]string, len(reqs))
	for i, req := range reqs {
		keys[i] = req.in.IncidentKey
	}
	if err := lockIncidents(ctx, tx, keys...); err != nil {
		return err
	}
	for i, req := range reqs {
		var err error
		if req.in.Escalate != nil {
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
func ingestOne(ctx context.Context, tx pgx.Tx, req *ingestReq) (store.IngestResult, int64, error) {
	in, at := req.in, nanos(req.in.ReceivedAt)
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
func ingestEscalated(ctx context.Context, tx pgx.Tx, req *ingestReq) (res store.IngestResult, refused, err error) {
	if _, err := tx.Exec(ctx, `SAVEPOINT escalate`); err != nil {
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

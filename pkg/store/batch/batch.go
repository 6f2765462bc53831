// Package batch is the committer that the store drivers share: Ingest
// calls made at once wait in one queue, and one goroutine records all
// those waiting in one transaction, so that a burst of webhooks costs one
// commit rather than one each. Each call returns only once its
// transaction has committed, or failed.
package batch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// errClosed answers Ingest calls after Close.
var errClosed = fmt.Errorf("%w: closed", store.ErrUnavailable)

// Call is one Ingest call waiting for its transaction.
type Call struct {
	Ctx    context.Context
	In     *store.Ingest
	answer chan answer
}

type answer struct {
	res store.IngestResult
	err error
}

// Commit records calls, in order, in one transaction, so that the second
// of two notifications of an incident is compared with the first. It
// sets results[i] for each call recorded, and refused[i] for a call that
// was rolled back alone (its escalation hook failed). An error fails
// every call.
type Commit func(calls []*Call, results []store.IngestResult, refused []error) error

// Options are a driver's choices for its committer.
type Options struct {
	// MaxBatch bounds the calls one transaction records.
	MaxBatch int
	// Committed, if set, hears of each transaction that recorded calls
	// (recorded of them), once they have been answered.
	Committed func(calls []*Call, recorded int)
}

// Committer queues Ingest calls and commits them in batches.
type Committer struct {
	commit  Commit
	opts    Options
	calls   chan *Call
	stop    chan struct{}
	done    chan struct{}
	metrics metrics
}

// metrics are the committer's: notifications per transaction, and how
// long each transaction took.
type metrics struct {
	batchSize, commitSeconds prometheus.Histogram
}

func (m metrics) Describe(ch chan<- *prometheus.Desc) {
	m.batchSize.Describe(ch)
	m.commitSeconds.Describe(ch)
}

func (m metrics) Collect(ch chan<- prometheus.Metric) {
	m.batchSize.Collect(ch)
	m.commitSeconds.Collect(ch)
}

// New starts a committer that records batches through commit, until
// Close.
func New(commit Commit, opts Options) *Committer {
	opts.MaxBatch = max(opts.MaxBatch, 1)
	c := &Committer{
		commit: commit,
		opts:   opts,
		calls:  make(chan *Call, opts.MaxBatch),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		metrics: metrics{
			batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:    "klaxon_receiver_store_ingest_batch_size",
				Help:    "Notifications recorded per committed transaction.",
				Buckets: prometheus.ExponentialBuckets(1, 2, 9),
			}),
			commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:    "klaxon_receiver_store_commit_duration_seconds",
				Help:    "Time the store took to record a batch of notifications, from the transaction's start to its durable commit (or its failure).",
				Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
			}),
		},
	}
	go c.loop()
	return c
}

// Metrics are the committer's histograms of notifications per committed
// transaction and of the transactions' durations, for the driver to
// register.
func (c *Committer) Metrics() prometheus.Collector { return c.metrics }

// Ingest records a notification. The call waits for the committer, which
// records every queued call in one transaction, until ctx ends. A call
// whose ctx ends after its transaction started may still be recorded; a
// retry of it is then a Duplicate.
func (c *Committer) Ingest(ctx context.Context, in *store.Ingest) (store.IngestResult, error) {
	if err := Validate(in); err != nil {
		return store.IngestResult{}, err
	}
	call := &Call{Ctx: ctx, In: in, answer: make(chan answer, 1)}
	select {
	case c.calls <- call:
	case <-c.stop:
		return store.IngestResult{}, unavailable("recording notification", errClosed)
	case <-ctx.Done():
		return store.IngestResult{}, unavailable("waiting to record notification", context.Cause(ctx))
	}
	select {
	case a := <-call.answer:
		return a.res, a.err
	case <-c.done:
		select {
		case a := <-call.answer:
			return a.res, a.err
		default:
			return store.IngestResult{}, unavailable("recording notification", errClosed)
		}
	case <-ctx.Done():
		return store.IngestResult{}, unavailable("waiting to record notification", context.Cause(ctx))
	}
}

// Close stops the committer once the transaction under way, if any, has
// ended, answering the calls still queued with store.ErrUnavailable.
func (c *Committer) Close() {
	close(c.stop)
	<-c.done
}

// Queued is the number of calls waiting for the committer.
func (c *Committer) Queued() int { return len(c.calls) }

// Validate checks that in has what every driver records.
func Validate(in *store.Ingest) error {
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

// loop takes every queued call, up to MaxBatch, and records them in one
// transaction.
func (c *Committer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			c.refuseQueued()
			return
		case call := <-c.calls:
			c.record(c.collect(call))
		}
	}
}

func (c *Committer) collect(first *Call) []*Call {
	batch := []*Call{first}
	for len(batch) < c.opts.MaxBatch {
		select {
		case call := <-c.calls:
			batch = append(batch, call)
		default:
			return batch
		}
	}
	return batch
}

func (c *Committer) refuseQueued() {
	for {
		select {
		case call := <-c.calls:
			call.answer <- answer{err: unavailable("recording notification", errClosed)}
		default:
			return
		}
	}
}

// record commits the batch's live calls and answers them. If the
// transaction fails, every call in it fails.
func (c *Committer) record(batch []*Call) {
	live := batch[:0]
	for _, call := range batch {
		if err := call.Ctx.Err(); err != nil {
			call.answer <- answer{err: unavailable("waiting to record notification", context.Cause(call.Ctx))}
			continue
		}
		live = append(live, call)
	}
	if len(live) == 0 {
		return
	}
	results := make([]store.IngestResult, len(live))
	refused := make([]error, len(live))
	start := time.Now()
	err := c.commit(live, results, refused)
	c.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	recorded := 0
	for i := range live {
		if err == nil && refused[i] == nil {
			recorded++
		}
	}
	// Count the commit before answering, so that whoever got its answer
	// finds its notification counted.
	if recorded > 0 {
		c.metrics.batchSize.Observe(float64(recorded))
	}
	for i, call := range live {
		switch {
		case err != nil:
			call.answer <- answer{err: err}
		case refused[i] != nil:
			call.answer <- answer{err: refused[i]}
		default:
			call.answer <- answer{res: results[i]}
		}
	}
	// The answered handlers are queued on this goroutine's P: let them
	// write their responses now rather than after the next batch's
	// statements, so that their senders can post again sooner.
	runtime.Gosched()
	if recorded > 0 && c.opts.Committed != nil {
		c.opts.Committed(live, recorded)
	}
}

// unavailable wraps err so that errors.Is(err, store.ErrUnavailable)
// holds.
func unavailable(op string, err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
}

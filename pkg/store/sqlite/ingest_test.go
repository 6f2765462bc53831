package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// commitCounter counts the committer's transactions and the notifications
// they recorded. Its hook blocks the committer after its first transaction
// until release, so that a test can queue ingests behind it.
type commitCounter struct {
	transactions, notifications atomic.Int64
	hold                        chan struct{}
	once                        sync.Once
	release                     func()
}

func newCommitCounter() *commitCounter {
	c := &commitCounter{hold: make(chan struct{})}
	c.release = sync.OnceFunc(func() { close(c.hold) })
	return c
}

func (c *commitCounter) hook(n int) {
	c.transactions.Add(1)
	c.notifications.Add(int64(n))
	c.once.Do(func() { <-c.hold })
}

// transactionsFor waits until n notifications are committed (callers hear
// before the hook runs) and returns how many transactions recorded them.
func (c *commitCounter) transactionsFor(t *testing.T, n int64) int64 {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		if got := c.notifications.Load(); got != n {
			return fmt.Errorf("%d notifications committed, want %d", got, n)
		}
		return nil
	})
	return c.transactions.Load()
}

func waitQueued(t *testing.T, s *sqlite.Store, n int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		if q := s.Queued(); q != n {
			return fmt.Errorf("%d ingests queued, want %d", q, n)
		}
		return nil
	})
}

func TestConcurrentIngestsAreBatched(t *testing.T) {
	const n = 200
	c := newCommitCounter()
	defer c.release()
	reg := prometheus.NewRegistry()
	s := open(t, "", sqlite.Options{OnCommit: c.hook, Registerer: reg})
	mustIngest(t, s, newIngest("first", "h", t0, "pager")) // the committer now waits in OnCommit

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := s.Ingest(context.Background(), newIngest(fmt.Sprintf("inc%03d", i), "h", t0, "pager")); err != nil {
				errs <- err
			}
		})
	}
	waitQueued(t, s, n)
	c.release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// 200 queued ingests fit in one batch of at most 256.
	if got := c.transactionsFor(t, n+1); got != 2 {
		t.Fatalf("%d transactions for %d ingests, want 2 (the first, then the other %d together)", got, n+1, n)
	}
	if got := len(claim(t, s, t0, 1000)); got != n+1 {
		t.Fatalf("%d deliveries pending, want %d", got, n+1)
	}
	if got := testutil.CollectAndCount(reg, "klaxon_receiver_store_ingest_batch_size"); got != 1 {
		t.Fatalf("%d batch size series, want 1", got)
	}
	if h := testkit.Histogram(t, reg, "klaxon_receiver_store_ingest_batch_size"); h.GetSampleCount() != 2 || h.GetSampleSum() != n+1 {
		t.Fatalf("batch size histogram: %d transactions recording %v notifications, want 2 and %d", h.GetSampleCount(), h.GetSampleSum(), n+1)
	}
	if h := testkit.Histogram(t, reg, "klaxon_receiver_store_commit_duration_seconds"); h.GetSampleCount() != 2 || h.GetSampleSum() <= 0 {
		t.Fatalf("commit duration histogram: %d transactions taking %v s, want 2 taking some time", h.GetSampleCount(), h.GetSampleSum())
	}
}

func TestMaxBatch(t *testing.T) {
	c := newCommitCounter()
	defer c.release()
	s := open(t, "", sqlite.Options{OnCommit: c.hook, MaxBatch: 3})
	mustIngest(t, s, newIngest("first", "h", t0, "pager"))
	var wg sync.WaitGroup
	for i := range 7 {
		wg.Go(func() { mustIngest(t, s, newIngest(fmt.Sprintf("inc%d", i), "h", t0, "pager")) })
		waitQueued(t, s, min(i+1, 3)) // the queue holds MaxBatch
	}
	c.release()
	wg.Wait()
	if got := c.transactionsFor(t, 8); got != 4 {
		t.Fatalf("%d transactions, want 4: the first, then 7 ingests in batches of at most 3", got)
	}
}

func TestSameIncidentInOneBatch(t *testing.T) {
	c := newCommitCounter()
	defer c.release()
	s := open(t, "", sqlite.Options{OnCommit: c.hook})
	mustIngest(t, s, newIngest("warmup", "h", t0, "pager"))

	results := make([]store.IngestResult, 3)
	var wg sync.WaitGroup
	for i, hash := range []string{"h1", "h1", "h2"} {
		wg.Go(func() {
			res, err := s.Ingest(context.Background(), newIngest("inc1", hash, t0, "pager"))
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
		waitQueued(t, s, i+1) // queue in order
	}
	c.release()
	wg.Wait()
	if got := c.transactionsFor(t, 4); got != 2 {
		t.Fatalf("%d transactions, want 2: the three ingests of inc1 share one", got)
	}
	want := []store.IngestResult{{Deliveries: 1}, {Duplicate: true}, {Deliveries: 1}}
	if diff := cmp.Diff(want, results); diff != "" {
		t.Fatalf("results of one batch (-want +got):\n%s", diff)
	}
}

func TestIngestHonoursContext(t *testing.T) {
	c := newCommitCounter()
	defer c.release()
	s := open(t, "", sqlite.Options{OnCommit: c.hook})
	mustIngest(t, s, newIngest("warmup", "h", t0, "pager"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := s.Ingest(ctx, newIngest("inc1", "h1", t0, "pager"))
		done <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("ingest with a cancelled context: %v, want context.Canceled", err)
	}
	// The committer skips the abandoned call.
	c.release()
	mustIngest(t, s, newIngest("after", "h", t0, "pager"))
	if diff := cmp.Diff([]string{"pager/warmup", "pager/after"}, keys(claim(t, s, t0, 10))); diff != "" {
		t.Fatalf("pending (-want +got):\n%s", diff)
	}
}

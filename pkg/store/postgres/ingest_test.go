package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
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

func waitQueued(t *testing.T, s *postgres.Store, n int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		if q := s.Queued(); q != n {
			return fmt.Errorf("%d ingests queued, want %d", q, n)
		}
		return nil
	})
}

// TestConcurrentIngestsAreBatched: ingests queued while the committer is
// busy share its next transaction, and each returns once it committed.
func TestConcurrentIngestsAreBatched(t *testing.T) {
	const n = 200
	c := newCommitCounter()
	defer c.release()
	reg := prometheus.NewRegistry()
	s := open(t, "", postgres.Options{OnCommit: c.hook, Registerer: reg})
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
	// Every call has returned: all are committed.
	if got := len(claim(t, s, t0, 1000)); got != n+1 {
		t.Fatalf("%d deliveries pending, want %d", got, n+1)
	}
	// 200 queued ingests fit in one batch of at most 256.
	if got := c.transactionsFor(t, n+1); got != 2 {
		t.Fatalf("%d transactions for %d ingests, want 2 (the first, then the other %d together)", got, n+1, n)
	}
	if h := testkit.Histogram(t, reg, "klaxon_receiver_store_ingest_batch_size"); h.GetSampleCount() != 2 || h.GetSampleSum() != n+1 {
		t.Fatalf("klaxon_receiver_store_ingest_batch_size: %d transactions recording %v notifications, want 2 and %d",
			h.GetSampleCount(), h.GetSampleSum(), n+1)
	}
	if h := testkit.Histogram(t, reg, "klaxon_receiver_store_commit_duration_seconds"); h.GetSampleCount() != 2 || h.GetSampleSum() <= 0 {
		t.Fatalf("klaxon_receiver_store_commit_duration_seconds: %d transactions taking %v s, want 2 taking some time",
			h.GetSampleCount(), h.GetSampleSum())
	}
}

// TestSameIncidentInOneBatch: notifications of one incident in one
// transaction are each compared with the one before.
func TestSameIncidentInOneBatch(t *testing.T) {
	c := newCommitCounter()
	defer c.release()
	s := open(t, "", postgres.Options{OnCommit: c.hook})
	mustIngest(t, s, newIngest("warmup", "h", t0, "pager"))

	a, b := storetest.Firing("a", t0), storetest.Firing("b", t0)
	ins := []*store.Ingest{
		storetest.WithAlerts(newIngest("inc1", "h1", t0, "pager"), a),
		storetest.WithAlerts(newIngest("inc1", "h1", t0, "pager"), a),
		storetest.WithAlerts(newIngest("inc1", "h2", t0, "pager"), a, b),
		storetest.WithAlerts(newIngest("inc1", "h3", t0, "pager"), b), // older than h2
	}
	results := make([]store.IngestResult, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Go(func() {
			res, err := s.Ingest(context.Background(), in)
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
		waitQueued(t, s, i+1) // queue in order
	}
	c.release()
	wg.Wait()
	if got := c.transactionsFor(t, 5); got != 2 {
		t.Fatalf("%d transactions, want 2: the four ingests of inc1 share one", got)
	}
	want := []store.IngestResult{{Deliveries: 1}, {Duplicate: true}, {Deliveries: 1}, {Duplicate: true}}
	if diff := cmp.Diff(want, results); diff != "" {
		t.Fatalf("results of one batch (-want +got):\n%s", diff)
	}
}

// TestOpenBadDSN: a connection string that does not parse is refused
// without quoting it, since it may hold a password.
func TestOpenBadDSN(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://klaxon:s3cret@127.0.0.1:5432/klaxon?sslmode=bogus", postgres.Options{})
	const want = "parsing the PostgreSQL connection string: failed to configure TLS: sslmode is invalid"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// TestIngestReadsByIndexAsTablesGrow: the statements of an ingest keep
// finding its incidents through their index once the table has grown,
// though they were first run (and their plans cached) on a small table
// that no ANALYZE has seen since.
func TestIngestReadsByIndexAsTablesGrow(t *testing.T) {
	const grown, rounds, perRound = 5000, 10, 40
	dsn := testenv.PostgresDatabase(t)
	s := open(t, dsn, postgres.Options{})
	ingestRounds := func(prefix string) {
		for r := range rounds { // past the 5 runs after which a cached plan may stay
			var wg sync.WaitGroup
			for i := range perRound {
				wg.Go(func() { mustIngest(t, s, newIngest(fmt.Sprintf("%s%d-%d", prefix, r, i), "h", t0)) })
			}
			wg.Wait()
		}
	}
	ingestRounds("small")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO incidents (incident_key, route, group_key, status, state_hash, first_seen, updated_at)
		SELECT 'grown' || g, 'ops', '{}', 'firing', 'h', 0, 0 FROM generate_series(1, $1) AS g`, grown); err != nil {
		t.Fatal(err)
	}
	ingestRounds("large")
	s.Close() // its connections end, and report their statistics
	const inserted = grown + 2*rounds*perRound
	testenv.Eventually(t, 10*time.Second, func() error {
		var ins, scans, read int64
		if err := conn.QueryRow(ctx, `SELECT n_tup_ins, seq_scan, seq_tup_read FROM pg_stat_user_tables WHERE relname = 'incidents'`).Scan(&ins, &scans, &read); err != nil {
			return err
		}
		if ins < inserted {
			return fmt.Errorf("%d rows inserted into incidents reported, want %d", ins, inserted)
		}
		if read >= grown {
			t.Fatalf("%d sequential scans of incidents read %d rows: the ingests scanned the grown table", scans, read)
		}
		return nil
	})
}

// TestIngestRetriesAfterDeadlock: a batch that PostgreSQL aborts to break
// a deadlock with another transaction is recorded on its next try, and
// the ingest succeeds.
func TestIngestRetriesAfterDeadlock(t *testing.T) {
	dsn := testenv.PostgresDatabase(t)
	s := open(t, dsn, postgres.Options{})
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager"))
	ctx := context.Background()
	connect := func() *pgx.Conn {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		return conn
	}
	other, watch := connect(), connect()
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// The other transaction looks for a deadlock after 10 s, the store's
	// after 1 s (the default): the store's is the one aborted.
	for _, q := range []string{`SET LOCAL deadlock_timeout = '10s'`, `SELECT 1 FROM incidents WHERE incident_key = 'inc1' FOR UPDATE`} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	type answer struct {
		res store.IngestResult
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := s.Ingest(ctx, newIngest("inc1", "h2", t0, "pager"))
		done <- answer{res, err}
	}()
	// The ingest holds inc1's lock and waits for its row.
	testenv.Eventually(t, 10*time.Second, func() error {
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO incidents%'`).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%d ingests waiting for a lock, want 1", n)
		}
		return nil
	})
	// The other transaction now waits for inc1's lock: a deadlock.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, postgres.IncidentLock("inc1")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil || a.res != (store.IngestResult{Deliveries: 1}) {
		t.Fatalf("ingest after a deadlock: %+v, %v; want 1 delivery", a.res, a.err)
	}
	want := []string{"pager/inc1/" + storetest.Payload("inc1", "h1"), "pager/inc1/" + storetest.Payload("inc1", "h2")}
	ds := claim(t, s, t0, 10)
	for _, d := range ds {
		if err := s.Complete(ctx, d.Lease(), t0); err != nil {
			t.Fatal(err)
		}
	}
	ds = append(ds, claim(t, s, t0, 10)...)
	if diff := cmp.Diff(want, storetest.IDs(ds)); diff != "" {
		t.Fatalf("deliveries (-want +got):\n%s", diff)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		var n int64
		if err := watch.QueryRow(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%d deadlocks reported, want 1", n)
		}
		return nil
	})
}

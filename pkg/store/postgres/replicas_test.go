package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

// TestReplicasClaimConcurrently: replicas, each a store with a pool of its
// own on one database and several workers, claim (and, on the digest
// channel, claim along) while the incidents' notifications arrive through
// one replica after another. No delivery is claimed twice, and each
// incident's deliveries to a channel are claimed in order, each only once
// the one before it was delivered or along with it.
func TestReplicasClaimConcurrently(t *testing.T) {
	const replicas, workers, incidents, notifications = 3, 2, 12, 6
	channels := []string{"pager", "chat"} // chat is the digest channel
	const total = incidents * notifications * 2
	dsn := testenv.PostgresDatabase(t)
	stores := make([]*postgres.Store, replicas)
	for i := range stores {
		stores[i] = open(t, dsn, postgres.Options{MaxConns: 4})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := newTracker(cancel)

	var wg sync.WaitGroup
	for i := range incidents {
		wg.Go(func() {
			for n := range notifications {
				s := stores[(i+n)%replicas]
				if _, err := s.Ingest(ctx, newIngest(fmt.Sprintf("inc%02d", i), fmt.Sprintf("n%02d", n), t0, channels...)); err != nil {
					tr.fail(err)
				}
			}
		})
	}
	var claimedBy [replicas]atomic.Int64
	for r, s := range stores {
		for range workers {
			wg.Go(func() {
				for tr.delivered.Load() < total && ctx.Err() == nil {
					claimedBy[r].Add(int64(work(ctx, s, tr)))
				}
			})
		}
	}
	wg.Wait()
	if len(tr.errs) > 0 {
		t.Fatal(tr.errs[0])
	}
	if got := tr.delivered.Load(); got != total {
		t.Fatalf("%d deliveries made, want %d", got, total)
	}
	for r := range claimedBy {
		t.Logf("replica %d claimed %d deliveries", r, claimedBy[r].Load())
	}
	if got := claim(t, stores[0], t0.Add(24*time.Hour), 10); len(got) != 0 {
		t.Errorf("pending after all were delivered: %v", keys(got))
	}
}

// work claims up to three deliveries on s and delivers them, each
// delivery to chat with the ones ClaimAlong adds to it (a digest), each
// to pager with the ones ClaimRun adds (its incident's later states); it
// returns how many it claimed.
func work(ctx context.Context, s *postgres.Store, tr *tracker) int {
	held, err := s.Claim(ctx, t0, time.Hour, 3)
	if err != nil {
		tr.fail(err)
		return 0
	}
	claimed := len(held)
	for _, d := range held {
		claimMore := s.ClaimRun // pager keeps only an incident's latest state
		if d.Channel == "chat" {
			claimMore = s.ClaimAlong
		}
		more, err := claimMore(ctx, d, t0, time.Hour, 3)
		if err != nil {
			tr.fail(err)
			return claimed
		}
		batch := append([]store.Delivery{d}, more...)
		claimed += len(more)
		if !tr.deliver(batch) {
			return claimed
		}
		if err := s.Settle(ctx, store.Leases(batch), store.Settlement{Outcome: store.Done, At: t0}); err != nil {
			tr.fail(err)
		}
	}
	return claimed
}

// tracker checks the claims of every worker. Its first error stops
// them all.
type tracker struct {
	mu      sync.Mutex
	stop    context.CancelFunc
	claimed map[int64]bool
	// next is the number of the next notification of each channel and
	// incident to deliver.
	next      map[string]int
	errs      []error
	delivered atomic.Int64
}

func newTracker(stop context.CancelFunc) *tracker {
	return &tracker{stop: stop, claimed: map[int64]bool{}, next: map[string]int{}}
}

func (tr *tracker) fail(err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.failLocked(err)
}

// failLocked records err, unless it follows an earlier error, and stops
// the workers.
func (tr *tracker) failLocked(err error) {
	if len(tr.errs) == 0 {
		tr.errs = append(tr.errs, err)
	}
	tr.stop()
}

// deliver records the claimed batch as delivered, in order, before the
// worker settles it: a later delivery of its incidents can be claimed
// only once that is done. It reports false, recording why, if a
// delivery was claimed before or out of its incident's order.
func (tr *tracker) deliver(batch []store.Delivery) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, d := range batch {
		key := d.Channel + "/" + d.IncidentKey
		var p struct{ State string }
		var n int
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			tr.failLocked(fmt.Errorf("delivery %d: payload %q: %w", d.ID, d.Payload, err))
			return false
		}
		if _, err := fmt.Sscanf(p.State, "n%d", &n); err != nil {
			tr.failLocked(fmt.Errorf("delivery %d: state %q: %w", d.ID, p.State, err))
			return false
		}
		switch {
		case tr.claimed[d.ID]:
			tr.failLocked(fmt.Errorf("delivery %d (%s, notification %d) claimed twice", d.ID, key, n))
			return false
		case n != tr.next[key]:
			tr.failLocked(fmt.Errorf("delivery %d: %s's notification %d claimed while %d was the next to deliver", d.ID, key, n, tr.next[key]))
			return false
		}
		tr.claimed[d.ID] = true
		tr.next[key]++
		tr.delivered.Add(1)
	}
	return true
}

// TestReplicasMigrateOnce: replicas that start together on an empty
// database all open it; one of them migrated it, once.
func TestReplicasMigrateOnce(t *testing.T) {
	const replicas = 4
	dsn := testenv.PostgresDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version_id FROM goose_db_version ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	migrations, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{0} // goose's own
	for i := range migrations {
		want = append(want, int64(i+1))
	}
	if !slices.Equal(versions, want) {
		t.Fatalf("versions recorded %v, want %v: each once", versions, want)
	}
}

// TestReplicasUpdateEscalation: updates of one incident's escalation
// through several replicas each see the one before, and their deliveries
// are in the outbox in the order of the updates.
func TestReplicasUpdateEscalation(t *testing.T) {
	const replicas, each = 3, 10
	dsn := testenv.PostgresDatabase(t)
	stores := make([]*postgres.Store, replicas)
	for i := range stores {
		stores[i] = open(t, dsn, postgres.Options{Now: testkit.NewClock(t0).Now})
	}
	mustIngest(t, stores[0], newIngest("inc1", "h1", t0))
	increment := func(cur *store.Escalation) (*store.EscalationChange, error) {
		n := 0
		if cur != nil {
			if err := json.Unmarshal(cur.State, &n); err != nil {
				return nil, err
			}
		}
		state, _ := json.Marshal(n + 1)
		return &store.EscalationChange{Policy: "p", State: state,
			Deliveries: []store.NewDelivery{{Channel: "pager", Kind: "trigger", Payload: state}}}, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, replicas*each)
	for _, s := range stores {
		wg.Go(func() {
			for range each {
				if err := s.UpdateEscalation(context.Background(), "inc1", increment); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := 1; i <= replicas*each; i++ {
		ds := claim(t, stores[i%replicas], t0, 10)
		if len(ds) != 1 || string(ds[0].Payload) != fmt.Sprint(i) {
			t.Fatalf("delivery %d: claimed %v, want the one of update %d", i, keys(ds), i)
		}
		if err := stores[0].Complete(context.Background(), ds[0].Lease(), t0); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplicasPruneConcurrently: every replica runs the pruner, so
// replicas prune the same rows at once, while others take notifications.
// Several passes on each, all at once, fail none, delete all that is past
// the retention, more than a chunk of each kind, and keep every row that
// is not: pending deliveries, dead letters, the payload an escalation
// refers to, recent rows and nonces whose links have not expired.
func TestReplicasPruneConcurrently(t *testing.T) {
	const replicas, passes, old, fresh = 3, 3, 2500, 60
	dsn := testenv.PostgresDatabase(t)
	clock := testkit.NewClock(t0)
	stores := make([]*postgres.Store, replicas)
	for i := range stores {
		stores[i] = open(t, dsn, postgres.Options{Now: clock.Now, Retention: time.Hour})
	}
	ctx := context.Background()
	concurrently(t, old, func(i int) error {
		in := newIngest(fmt.Sprintf("old%04d", i), "h1", t0, "pager")
		in.Status = "resolved"
		_, err := stores[i%replicas].Ingest(ctx, in)
		if err == nil {
			_, err = stores[i%replicas].UseNonce(ctx, fmt.Sprintf("old%04d", i), t0.Add(30*time.Minute))
		}
		return err
	})
	delivered := claim(t, stores[0], t0, old)
	if len(delivered) != old {
		t.Fatalf("claimed %d deliveries, want %d", len(delivered), old)
	}
	if err := stores[1].Settle(ctx, store.Leases(delivered), store.Settlement{Outcome: store.Done, At: t0}); err != nil {
		t.Fatal(err)
	}
	kept := keptRows(t, stores[0])

	clock.Set(t0.Add(2 * time.Hour))
	var wg sync.WaitGroup
	errs := make(chan error, replicas*passes+2*fresh)
	for _, s := range stores {
		wg.Go(func() {
			for range passes {
				if err := s.Prune(ctx); err != nil {
					errs <- fmt.Errorf("pruning: %w", err)
				}
			}
		})
	}
	for i := range fresh {
		wg.Go(func() {
			s := stores[i%replicas]
			_, err := s.Ingest(ctx, newIngest(fmt.Sprintf("new%02d", i), "h1", clock.Now(), "pager"))
			if err == nil {
				_, err = s.UseNonce(ctx, fmt.Sprintf("new%02d", i), clock.Now().Add(time.Hour))
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := storetest.Rows{Outbox: kept.Outbox + fresh, Payloads: kept.Payloads + fresh, Incidents: kept.Incidents + fresh, Nonces: kept.Nonces + fresh}
	got := database(dsn).Rows(t)
	got.Notes = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows after the replicas pruned: %+v, want %+v: only what is past the retention deleted", got, want)
	}
	if dead, err := stores[2].DeadLetters(ctx); err != nil || len(dead) != 1 || dead[0].IncidentKey != "dead" {
		t.Errorf("dead letters after pruning: %v, %v; want dead's", keys(dead), err)
	}
	if es := storetest.OpenEscalations(t, stores[2]); len(es) != 1 || string(es[0].Payload) != storetest.Payload("esc", "h1") {
		t.Errorf("escalations after pruning: %+v, want esc's with its payload", es)
	}
}

// keptRows records, at t0, the rows that pruning an hour later must
// keep: a pending delivery, a dead letter, the payload of an escalation
// whose deliveries were made, and nonces of links that expire later. It
// returns how many rows of each kind the database should hold after the
// pruning: these.
func keptRows(t *testing.T, s *postgres.Store) storetest.Rows {
	t.Helper()
	ctx := context.Background()
	mustIngest(t, s, newIngest("dead", "h1", t0, "chat"))
	ds := claim(t, s, t0, 10)
	if len(ds) != 1 {
		t.Fatalf("claimed %v, want dead's delivery", keys(ds))
	}
	if err := s.Bury(ctx, ds[0].Lease(), "upstream refused it"); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, s, newIngest("pending", "h1", t0, "pager"))
	in := newIngest("esc", "h1", t0)
	in.Escalate = store.EscalationHookFunc(storetest.Set(&store.EscalationChange{Route: "ops", Policy: "p", State: storetest.State(1)}))
	mustIngest(t, s, in)
	for i := range 5 {
		if _, err := s.UseNonce(ctx, fmt.Sprintf("later%d", i), t0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return storetest.Rows{Outbox: 2, Payloads: 3, Incidents: 3, Nonces: 5}
}

// concurrently runs fn(0) to fn(n-1), a few at a time, and fails t with
// the first error.
func concurrently(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	const workers = 16
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n && errs[w] == nil; i += workers {
				errs[w] = fn(i)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

var errBoom = errors.New("boom")

// counter is the escalation state of these tests.
type counter struct {
	N int `json:"n"`
}

func state(n int) []byte {
	b, _ := json.Marshal(counter{N: n})
	return b
}

func stateOf(t testing.TB, e *store.Escalation) int {
	t.Helper()
	var c counter
	if err := json.Unmarshal(e.State, &c); err != nil {
		t.Fatalf("escalation state %q: %v", e.State, err)
	}
	return c.N
}

// set returns an update that records the change as it is.
func set(ch *store.EscalationChange) func(*store.Escalation) (*store.EscalationChange, error) {
	return func(*store.Escalation) (*store.EscalationChange, error) { return ch, nil }
}

func update(t testing.TB, s *sqlite.Store, key string, fn func(*store.Escalation) (*store.EscalationChange, error)) {
	t.Helper()
	if err := s.UpdateEscalation(context.Background(), key, fn); err != nil {
		t.Fatal(err)
	}
}

func openEscalations(t testing.TB, s *sqlite.Store) []store.Escalation {
	t.Helper()
	es, err := s.OpenEscalations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func claimEscalations(t testing.TB, s *sqlite.Store, now time.Time, limit int) []string {
	t.Helper()
	es, err := s.ClaimDueEscalations(context.Background(), now, lease, limit)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, e := range es {
		out = append(out, e.IncidentKey)
	}
	return out
}

func TestUpdateEscalation(t *testing.T) {
	s := open(t, "", sqlite.Options{Now: testkit.NewClock(t0).Now})
	in := newIngest("inc1", "h1", t0, "pager")
	mustIngest(t, s, in)

	update(t, s, "inc1", func(cur *store.Escalation) (*store.EscalationChange, error) {
		if cur != nil {
			t.Errorf("a new escalation: fn got %+v, want nil", cur)
		}
		return &store.EscalationChange{Policy: "critical", State: state(1), NextAt: t0.Add(5 * time.Minute),
			Deliveries: []store.NewDelivery{{Channel: "pager", Kind: "trigger", Payload: []byte("level 2")}, {Channel: "chat", Kind: "trigger"}}}, nil
	})
	want := []store.Escalation{{IncidentKey: "inc1", Route: "ops", Policy: "critical", State: state(1),
		NextAt: t0.Add(5 * time.Minute), UpdatedAt: t0, Payload: in.Payload}}
	if diff := cmp.Diff(want, openEscalations(t, s)); diff != "" {
		t.Fatalf("created (-want +got):\n%s", diff)
	}

	// The escalation's deliveries follow the incident's earlier ones.
	first := claim(t, s, t0, 10)
	if diff := cmp.Diff([]string{"pager/inc1/" + string(in.Payload), "chat/inc1/" + string(in.Payload)}, ids(first)); diff != "" {
		t.Fatalf("claimed first (-want +got):\n%s", diff)
	}
	if err := s.Complete(context.Background(), first[0].ID, t0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pager/inc1/level 2"}, ids(claim(t, s, t0, 10))); diff != "" {
		t.Fatalf("claimed next (-want +got):\n%s", diff)
	}

	update(t, s, "inc1", func(cur *store.Escalation) (*store.EscalationChange, error) {
		return &store.EscalationChange{State: state(stateOf(t, cur) + 1)}, nil
	})
	want[0].State, want[0].NextAt = state(2), time.Time{}
	if diff := cmp.Diff(want, openEscalations(t, s)); diff != "" {
		t.Fatalf("updated (-want +got):\n%s", diff)
	}

	update(t, s, "inc1", func(*store.Escalation) (*store.EscalationChange, error) { return nil, nil })
	if diff := cmp.Diff(want, openEscalations(t, s)); diff != "" {
		t.Fatalf("after a nil change (-want +got):\n%s", diff)
	}

	update(t, s, "inc1", set(&store.EscalationChange{Delete: true}))
	if got := openEscalations(t, s); len(got) != 0 {
		t.Fatalf("deleted escalation still open: %+v", got)
	}
}

func TestUpdateEscalationRollsBack(t *testing.T) {
	s := open(t, "", sqlite.Options{Now: testkit.NewClock(t0).Now})
	ctx := context.Background()
	update(t, s, "inc1", set(&store.EscalationChange{Route: "ops", Policy: "p", State: state(1)}))
	before := openEscalations(t, s)

	for _, tc := range []struct {
		name string
		fn   func(*store.Escalation) (*store.EscalationChange, error)
		want string
	}{
		{"fn error", func(*store.Escalation) (*store.EscalationChange, error) { return nil, errBoom },
			"updating escalation of incident inc1: boom"},
		{"delivery without a channel", set(&store.EscalationChange{State: state(2),
			Deliveries: []store.NewDelivery{{Kind: "trigger", Payload: []byte("x")}}}),
			"updating escalation of incident inc1: delivery 0: channel is empty"},
		{"delivery without a kind", set(&store.EscalationChange{State: state(2),
			Deliveries: []store.NewDelivery{{Channel: "pager", Payload: []byte("x")}}}),
			"updating escalation of incident inc1: delivery 0: kind is empty"},
		// The first delivery is recorded before the second fails.
		{"delivery without a payload", set(&store.EscalationChange{State: state(2), Deliveries: []store.NewDelivery{
			{Channel: "pager", Kind: "trigger", Payload: []byte("x")}, {Channel: "chat", Kind: "trigger"}}}),
			"updating escalation of incident inc1: delivery 1: no payload and no accepted payload of the incident"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.UpdateEscalation(ctx, "inc1", tc.fn)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("the caller's error %v reads as the store's", err)
			}
			if diff := cmp.Diff(before, openEscalations(t, s)); diff != "" {
				t.Fatalf("escalation after the failed update (-want +got):\n%s", diff)
			}
			if got := claim(t, s, t0.Add(time.Hour), 10); len(got) != 0 {
				t.Fatalf("the failed update left deliveries: %v", ids(got))
			}
		})
	}
}

func TestUpdateEscalationValidation(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	for _, tc := range []struct {
		key  string
		fn   func(*store.Escalation) (*store.EscalationChange, error)
		want string
	}{
		{"", set(&store.EscalationChange{}), "updating escalation: incident key is empty"},
		{"inc1", nil, "updating escalation: no update function"},
	} {
		err := s.UpdateEscalation(context.Background(), tc.key, tc.fn)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// TestConcurrentEscalationUpdates: every update of one incident sees the
// one before it.
func TestConcurrentEscalationUpdates(t *testing.T) {
	const goroutines, each = 8, 10
	s := open(t, "", sqlite.Options{Now: testkit.NewClock(t0).Now})
	mustIngest(t, s, newIngest("inc1", "h1", t0))
	increment := func(cur *store.Escalation) (*store.EscalationChange, error) {
		n := 0
		if cur != nil {
			n = stateOf(t, cur)
		}
		return &store.EscalationChange{Policy: "p", State: state(n + 1),
			Deliveries: []store.NewDelivery{{Channel: "pager", Kind: "trigger", Payload: state(n + 1)}}}, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for range goroutines {
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
	es := openEscalations(t, s)
	if len(es) != 1 || stateOf(t, &es[0]) != goroutines*each {
		t.Fatalf("escalations %+v, want one with n=%d", es, goroutines*each)
	}
	// The deliveries are in the outbox in the order of the updates.
	for i := 1; i <= goroutines*each; i++ {
		ds := claim(t, s, t0.Add(time.Duration(i)*lease), 10)
		if len(ds) != 1 || string(ds[0].Payload) != string(state(i)) {
			t.Fatalf("delivery %d: claimed %v, want the one of n=%d", i, ids(ds), i)
		}
		if err := s.Complete(context.Background(), ds[0].ID, t0); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClaimDueEscalations(t *testing.T) {
	s := open(t, "", sqlite.Options{Now: testkit.NewClock(t0).Now})
	update(t, s, "a", set(&store.EscalationChange{Route: "ops", State: state(0), NextAt: t0.Add(time.Minute)}))
	update(t, s, "b", set(&store.EscalationChange{Route: "ops", State: state(0), NextAt: t0.Add(2 * time.Minute)}))
	update(t, s, "c", set(&store.EscalationChange{Route: "ops", State: state(0)})) // no timer

	for _, step := range []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"none due", t0, 10, []string{}},
		{"a due", t0.Add(time.Minute), 10, []string{"a"}},
		{"a leased", t0.Add(time.Minute), 10, []string{}},
		{"b due, a still leased", t0.Add(2 * time.Minute), 10, []string{"b"}},
		{"a's lease passed", t0.Add(time.Minute + lease), 10, []string{"a"}},
		{"both leases passed, limit 1", t0.Add(time.Hour), 1, []string{"a"}},
		{"then b", t0.Add(time.Hour), 1, []string{"b"}},
		{"no limit", t0.Add(2 * time.Hour), 0, []string{}},
	} {
		if diff := cmp.Diff(step.want, claimEscalations(t, s, step.now, step.limit)); diff != "" {
			t.Fatalf("%s: claimed (-want +got):\n%s", step.name, diff)
		}
	}

	// A recorded change releases the lease.
	update(t, s, "a", func(cur *store.Escalation) (*store.EscalationChange, error) {
		return &store.EscalationChange{State: state(1), NextAt: cur.NextAt}, nil
	})
	if diff := cmp.Diff([]string{"a"}, claimEscalations(t, s, t0.Add(time.Hour), 10)); diff != "" {
		t.Fatalf("after an update: claimed (-want +got):\n%s", diff)
	}
}

func TestClaimDueEscalationsOrder(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	in := newIngest("late", "h1", t0)
	mustIngest(t, s, in)
	update(t, s, "late", set(&store.EscalationChange{State: state(0), NextAt: t0.Add(3 * time.Minute)}))
	update(t, s, "early", set(&store.EscalationChange{Route: "db", State: state(0), NextAt: t0.Add(time.Minute)}))
	got, err := s.ClaimDueEscalations(context.Background(), t0.Add(time.Hour), lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Escalation{
		{IncidentKey: "early", Route: "db", State: state(0), NextAt: t0.Add(time.Minute), UpdatedAt: got[0].UpdatedAt},
		{IncidentKey: "late", Route: "ops", State: state(0), NextAt: t0.Add(3 * time.Minute), UpdatedAt: got[1].UpdatedAt, Payload: in.Payload},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
}

func TestIngestEscalates(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	in := newIngest("inc1", "h1", t0, "pager")
	in.Escalate = store.EscalationHookFunc(func(cur *store.Escalation) (*store.EscalationChange, error) {
		if cur != nil {
			t.Errorf("first notification: fn got %+v, want nil", cur)
		}
		return &store.EscalationChange{Policy: "p", State: state(1), NextAt: t0.Add(time.Minute),
			Deliveries: []store.NewDelivery{{Channel: "chat", Kind: "trigger"}}}, nil
	})
	if diff := cmp.Diff(store.IngestResult{Deliveries: 2}, mustIngest(t, s, in)); diff != "" {
		t.Fatalf("ingest result (-want +got):\n%s", diff)
	}
	want := []store.Escalation{{IncidentKey: "inc1", Route: "ops", Policy: "p", State: state(1),
		NextAt: t0.Add(time.Minute), UpdatedAt: t0, Payload: in.Payload}}
	if diff := cmp.Diff(want, openEscalations(t, s)); diff != "" {
		t.Fatalf("escalations (-want +got):\n%s", diff)
	}

	dup := newIngest("inc1", "h1", t0.Add(time.Minute), "pager")
	dup.Escalate = store.EscalationHookFunc(func(*store.Escalation) (*store.EscalationChange, error) {
		t.Error("Escalate ran for a duplicate")
		return nil, nil
	})
	if res := mustIngest(t, s, dup); !res.Duplicate {
		t.Fatalf("repeated state: %+v, want a duplicate", res)
	}

	// The next notification's payload is the escalation's, even when the
	// hook changes nothing.
	next := newIngest("inc1", "h2", t0.Add(2*time.Minute), "pager")
	next.Escalate = store.EscalationHookFunc(func(cur *store.Escalation) (*store.EscalationChange, error) {
		if cur == nil || string(cur.Payload) != string(next.Payload) {
			t.Errorf("fn got %+v, want the escalation with this notification's payload", cur)
		}
		return nil, nil
	})
	mustIngest(t, s, next)
	want[0].Payload = next.Payload
	if diff := cmp.Diff(want, openEscalations(t, s)); diff != "" {
		t.Fatalf("escalations after a nil change (-want +got):\n%s", diff)
	}
	want2 := []string{"pager/inc1/" + string(in.Payload), "chat/inc1/" + string(in.Payload)}
	if diff := cmp.Diff(want2, ids(claim(t, s, t0, 10))); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
}

// TestIngestEscalateFails: a failing hook fails its Ingest, which records
// nothing, and only that one of a batch.
func TestIngestEscalateFails(t *testing.T) {
	c := newCommitCounter()
	defer c.release()
	s := open(t, "", sqlite.Options{OnCommit: c.hook})
	mustIngest(t, s, newIngest("first", "h", t0)) // the committer now waits in OnCommit

	fail := func(*store.Escalation) (*store.EscalationChange, error) { return nil, errBoom }
	grow := func(*store.Escalation) (*store.EscalationChange, error) {
		return &store.EscalationChange{State: state(1), Deliveries: []store.NewDelivery{{Channel: "chat", Kind: "trigger"}}}, nil
	}
	ins := []*store.Ingest{newIngest("inc1", "h1", t0, "pager"), newIngest("inc2", "h1", t0, "pager"), newIngest("inc3", "h1", t0, "pager")}
	ins[0].Escalate, ins[1].Escalate = store.EscalationHookFunc(grow), store.EscalationHookFunc(fail)
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		waitQueued(t, s, i) // queued in order
		wg.Go(func() { _, errs[i] = s.Ingest(context.Background(), in) })
	}
	waitQueued(t, s, len(ins))
	c.release()
	wg.Wait()

	const want = "recording notification: escalating incident inc2: boom"
	if diff := cmp.Diff([]string{"<nil>", want, "<nil>"}, []string{fmt.Sprint(errs[0]), fmt.Sprint(errs[1]), fmt.Sprint(errs[2])}); diff != "" {
		t.Fatalf("errors (-want +got):\n%s", diff)
	}
	if !errors.Is(errs[1], errBoom) || errors.Is(errs[1], store.ErrUnavailable) {
		t.Fatalf("error %v: want the hook's, not the store's", errs[1])
	}
	if got := c.transactionsFor(t, 3); got != 2 {
		t.Fatalf("%d transactions, want 2 (the first, then the other ingests together)", got)
	}
	if diff := cmp.Diff([]string{"pager/inc1", "chat/inc1", "pager/inc3"}, keys(claim(t, s, t0, 10))); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"inc1"}, claimableKeys(openEscalations(t, s))); diff != "" {
		t.Fatalf("escalations (-want +got):\n%s", diff)
	}
	// inc2's state was not recorded: the same notification is not a
	// duplicate.
	if res := mustIngest(t, s, newIngest("inc2", "h1", t0, "pager")); res.Duplicate {
		t.Fatal("the failed ingest recorded the incident's state")
	}
}

func claimableKeys(es []store.Escalation) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.IncidentKey)
	}
	return out
}

func TestUseNonce(t *testing.T) {
	c := testkit.NewClock(t0)
	s := open(t, "", sqlite.Options{Now: c.Now})
	ctx := context.Background()
	use := func(nonce string, until time.Time) bool {
		t.Helper()
		first, err := s.UseNonce(ctx, nonce, until)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	got := []bool{use("n1", t0.Add(time.Hour)), use("n1", t0.Add(time.Hour)), use("n2", t0.Add(time.Hour))}
	if diff := cmp.Diff([]bool{true, false, true}, got); diff != "" {
		t.Fatalf("first uses (-want +got):\n%s", diff)
	}
	c.Set(t0.Add(time.Hour - time.Nanosecond))
	if use("n1", t0.Add(2*time.Hour)) {
		t.Fatal("a nonce reused before its time passed")
	}
	c.Set(t0.Add(time.Hour))
	if !use("n1", t0.Add(2*time.Hour)) {
		t.Fatal("a nonce whose time passed still counts as used")
	}
	if use("n1", t0.Add(2*time.Hour)) {
		t.Fatal("a nonce used again after its time passed is not used")
	}
	const want = "using nonce: nonce is empty"
	if _, err := s.UseNonce(ctx, "", t0); err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestPruneKeepsEscalations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	c := testkit.NewClock(t0)
	s := open(t, path, sqlite.Options{Now: c.Now, Retention: time.Hour, PruneInterval: time.Millisecond})
	ctx := context.Background()
	in := newIngest("inc1", "h1", t0, "pager")
	in.Status = "resolved"
	in.Escalate = store.EscalationHookFunc(set(&store.EscalationChange{State: state(1)}))
	mustIngest(t, s, in)
	for _, d := range claim(t, s, t0, 10) {
		if err := s.Complete(ctx, d.ID, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UseNonce(ctx, "n1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	prunedAt(t, s, c, t0.Add(2*time.Hour))

	rows, payloads, incidents := countRows(t, path)
	if diff := cmp.Diff([]int{0, 1, 1}, []int{rows, payloads, incidents}); diff != "" {
		t.Fatalf("outbox rows, payloads, incidents after pruning (-want +got):\n%s", diff)
	}
	if es := openEscalations(t, s); len(es) != 1 || string(es[0].Payload) != string(in.Payload) {
		t.Fatalf("escalations after pruning: %+v, want inc1's with its payload", es)
	}
	if n := countNonces(t, path); n != 0 {
		t.Fatalf("%d nonces after their time passed, want 0", n)
	}
}

func countNonces(t *testing.T, path string) int {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM nonces`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEscalationsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	s := open(t, path, sqlite.Options{Now: testkit.NewClock(t0).Now})
	ctx := context.Background()
	update(t, s, "inc1", set(&store.EscalationChange{Route: "ops", Policy: "p", State: state(3), NextAt: t0.Add(time.Minute)}))
	update(t, s, "inc2", set(&store.EscalationChange{Route: "ops", Policy: "p", State: state(1), NextAt: t0.Add(time.Minute)}))
	claimEscalations(t, s, t0.Add(time.Minute), 1) // inc1 leased when the process stops
	if _, err := s.UseNonce(ctx, "n1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := openEscalations(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, sqlite.Options{Now: testkit.NewClock(t0).Now})
	if diff := cmp.Diff(before, openEscalations(t, s)); diff != "" {
		t.Fatalf("escalations after restart (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"inc2"}, claimEscalations(t, s, t0.Add(time.Minute), 10)); diff != "" {
		t.Fatalf("claimed after restart (-want +got):\n%s", diff)
	}
	if first, err := s.UseNonce(ctx, "n1", t0.Add(time.Hour)); err != nil || first {
		t.Fatalf("nonce used before the restart: first use %v, %v", first, err)
	}
}

// TestUpgradeFromSchema2: a file of schema 2 opens with its outbox intact
// and takes escalations.
func TestUpgradeFromSchema2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	queries := []string{`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT 0)`}
	for _, f := range []string{"migrations/0001_init.sql", "migrations/0002_requeued_at.sql"} {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		queries = append(queries, string(text))
	}
	queries = append(queries,
		`INSERT INTO schema_version (version) VALUES (1), (2)`,
		`INSERT INTO incidents (incident_key, route, group_key, status, state_hash, first_seen, updated_at)
			VALUES ('inc1', 'ops', '{}', 'firing', 'h1', 0, 0)`,
		`INSERT INTO notifications (incident_key, received_at, payload) VALUES ('inc1', 0, '{}')`,
		`INSERT INTO outbox (channel, route, incident_key, kind, notification_id, created_at, next_attempt_at)
			VALUES ('pager', 'ops', 'inc1', 'trigger', 1, 0, 0)`)
	for _, q := range queries {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	s := open(t, path, sqlite.Options{Now: testkit.NewClock(t0).Now})
	update(t, s, "inc1", set(&store.EscalationChange{Policy: "p", State: state(1),
		Deliveries: []store.NewDelivery{{Channel: "pager", Kind: "trigger"}}}))
	want := []store.Escalation{{IncidentKey: "inc1", Route: "ops", Policy: "p", State: state(1), UpdatedAt: t0, Payload: []byte("{}")}}
	if diff := cmp.Diff(want, openEscalations(t, s)); diff != "" {
		t.Fatalf("escalations after the upgrade (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"pager/inc1/{}"}, ids(claim(t, s, t0, 10))); diff != "" {
		t.Fatalf("claimed after the upgrade (-want +got):\n%s", diff)
	}
}

func TestEscalationsUnavailable(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"UpdateEscalation": s.UpdateEscalation(ctx, "inc1", set(&store.EscalationChange{})),
		"ClaimDueEscalations": func() error {
			_, err := s.ClaimDueEscalations(ctx, t0, lease, 1)
			return err
		}(),
		"OpenEscalations": func() error { _, err := s.OpenEscalations(ctx); return err }(),
		"UseNonce":        func() error { _, err := s.UseNonce(ctx, "n1", t0); return err }(),
	} {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s on a closed store: %v, want store.ErrUnavailable", name, err)
		}
	}
}

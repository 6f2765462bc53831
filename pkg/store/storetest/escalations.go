package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
)

func testUpdateEscalation(t *testing.T, db Database) {
	s := db.Open(t, Options{Now: testkit.NewClock(T0).Now})
	in := NewIngest("inc1", "h1", T0, "pager")
	MustIngest(t, s, in)

	Update(t, s, "inc1", func(cur *store.Escalation) (*store.EscalationChange, error) {
		if cur != nil {
			t.Errorf("a new escalation: fn got %+v, want nil", cur)
		}
		return &store.EscalationChange{Policy: "critical", State: State(1), NextAt: T0.Add(5 * time.Minute),
			Deliveries: []store.NewDelivery{{Channel: "pager", Kind: "trigger", Payload: []byte("level 2")}, {Channel: "chat", Kind: "trigger"}}}, nil
	})
	want := []store.Escalation{{IncidentKey: "inc1", Route: "ops", Policy: "critical", State: State(1),
		NextAt: T0.Add(5 * time.Minute), UpdatedAt: T0, Payload: in.Payload}}
	if diff := cmp.Diff(want, OpenEscalations(t, s)); diff != "" {
		t.Fatalf("created (-want +got):\n%s", diff)
	}

	// The escalation's deliveries follow the incident's earlier ones.
	first := Claim(t, s, T0, 10)
	if diff := cmp.Diff([]string{"pager/inc1/" + string(in.Payload), "chat/inc1/" + string(in.Payload)}, IDs(first)); diff != "" {
		t.Fatalf("claimed first (-want +got):\n%s", diff)
	}
	if err := s.Complete(context.Background(), first[0].Lease(), T0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pager/inc1/level 2"}, IDs(Claim(t, s, T0, 10))); diff != "" {
		t.Fatalf("claimed next (-want +got):\n%s", diff)
	}

	Update(t, s, "inc1", func(cur *store.Escalation) (*store.EscalationChange, error) {
		return &store.EscalationChange{State: State(stateOf(t, cur) + 1)}, nil
	})
	want[0].State, want[0].NextAt = State(2), time.Time{}
	if diff := cmp.Diff(want, OpenEscalations(t, s)); diff != "" {
		t.Fatalf("updated (-want +got):\n%s", diff)
	}

	Update(t, s, "inc1", func(*store.Escalation) (*store.EscalationChange, error) { return nil, nil })
	if diff := cmp.Diff(want, OpenEscalations(t, s)); diff != "" {
		t.Fatalf("after a nil change (-want +got):\n%s", diff)
	}

	Update(t, s, "inc1", Set(&store.EscalationChange{Delete: true}))
	if got := OpenEscalations(t, s); len(got) != 0 {
		t.Fatalf("deleted escalation still open: %+v", got)
	}
}

func testUpdateEscalationRollsBack(t *testing.T, db Database) {
	s := db.Open(t, Options{Now: testkit.NewClock(T0).Now})
	ctx := context.Background()
	Update(t, s, "inc1", Set(&store.EscalationChange{Route: "ops", Policy: "p", State: State(1)}))
	before := OpenEscalations(t, s)

	for _, tc := range []struct {
		name string
		fn   func(*store.Escalation) (*store.EscalationChange, error)
		want string
	}{
		{"fn error", func(*store.Escalation) (*store.EscalationChange, error) { return nil, errBoom },
			"updating escalation of incident inc1: boom"},
		{"delivery without a channel", Set(&store.EscalationChange{State: State(2),
			Deliveries: []store.NewDelivery{{Kind: "trigger", Payload: []byte("x")}}}),
			"updating escalation of incident inc1: delivery 0: channel is empty"},
		{"delivery without a kind", Set(&store.EscalationChange{State: State(2),
			Deliveries: []store.NewDelivery{{Channel: "pager", Payload: []byte("x")}}}),
			"updating escalation of incident inc1: delivery 0: kind is empty"},
		// The first delivery is recorded before the second fails.
		{"delivery without a payload", Set(&store.EscalationChange{State: State(2), Deliveries: []store.NewDelivery{
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
			if diff := cmp.Diff(before, OpenEscalations(t, s)); diff != "" {
				t.Fatalf("escalation after the failed update (-want +got):\n%s", diff)
			}
			if got := Claim(t, s, T0.Add(time.Hour), 10); len(got) != 0 {
				t.Fatalf("the failed update left deliveries: %v", IDs(got))
			}
		})
	}
}

func testUpdateEscalationValidation(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	for _, tc := range []struct {
		key  string
		fn   func(*store.Escalation) (*store.EscalationChange, error)
		want string
	}{
		{"", Set(&store.EscalationChange{}), "updating escalation: incident key is empty"},
		{"inc1", nil, "updating escalation: no update function"},
	} {
		err := s.UpdateEscalation(context.Background(), tc.key, tc.fn)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// testConcurrentEscalationUpdates: every update of one incident sees the
// one before it.
func testConcurrentEscalationUpdates(t *testing.T, db Database) {
	const goroutines, each = 8, 10
	s := db.Open(t, Options{Now: testkit.NewClock(T0).Now})
	MustIngest(t, s, NewIngest("inc1", "h1", T0))
	increment := func(cur *store.Escalation) (*store.EscalationChange, error) {
		n := 0
		if cur != nil {
			n = stateOf(t, cur)
		}
		return &store.EscalationChange{Policy: "p", State: State(n + 1),
			Deliveries: []store.NewDelivery{{Channel: "pager", Kind: "trigger", Payload: State(n + 1)}}}, nil
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
	es := OpenEscalations(t, s)
	if len(es) != 1 || stateOf(t, &es[0]) != goroutines*each {
		t.Fatalf("escalations %+v, want one with n=%d", es, goroutines*each)
	}
	// The deliveries are in the outbox in the order of the updates.
	for i := 1; i <= goroutines*each; i++ {
		ds := Claim(t, s, T0.Add(time.Duration(i)*Lease), 10)
		if len(ds) != 1 || string(ds[0].Payload) != string(State(i)) {
			t.Fatalf("delivery %d: claimed %v, want the one of n=%d", i, IDs(ds), i)
		}
		if err := s.Complete(context.Background(), ds[0].Lease(), T0); err != nil {
			t.Fatal(err)
		}
	}
}

func testClaimDueEscalations(t *testing.T, db Database) {
	s := db.Open(t, Options{Now: testkit.NewClock(T0).Now})
	Update(t, s, "a", Set(&store.EscalationChange{Route: "ops", State: State(0), NextAt: T0.Add(time.Minute)}))
	Update(t, s, "b", Set(&store.EscalationChange{Route: "ops", State: State(0), NextAt: T0.Add(2 * time.Minute)}))
	Update(t, s, "c", Set(&store.EscalationChange{Route: "ops", State: State(0)})) // no timer

	for _, step := range []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"none due", T0, 10, []string{}},
		{"a due", T0.Add(time.Minute), 10, []string{"a"}},
		{"a leased", T0.Add(time.Minute), 10, []string{}},
		{"b due, a still leased", T0.Add(2 * time.Minute), 10, []string{"b"}},
		{"a's lease passed", T0.Add(time.Minute + Lease), 10, []string{"a"}},
		{"both leases passed, limit 1", T0.Add(time.Hour), 1, []string{"a"}},
		{"then b", T0.Add(time.Hour), 1, []string{"b"}},
		{"no limit", T0.Add(2 * time.Hour), 0, []string{}},
	} {
		if diff := cmp.Diff(step.want, claimEscalations(t, s, step.now, step.limit)); diff != "" {
			t.Fatalf("%s: claimed (-want +got):\n%s", step.name, diff)
		}
	}

	// A recorded change releases the lease.
	Update(t, s, "a", func(cur *store.Escalation) (*store.EscalationChange, error) {
		return &store.EscalationChange{State: State(1), NextAt: cur.NextAt}, nil
	})
	if diff := cmp.Diff([]string{"a"}, claimEscalations(t, s, T0.Add(time.Hour), 10)); diff != "" {
		t.Fatalf("after an update: claimed (-want +got):\n%s", diff)
	}
}

func testClaimDueEscalationsOrder(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	in := NewIngest("late", "h1", T0)
	MustIngest(t, s, in)
	Update(t, s, "late", Set(&store.EscalationChange{State: State(0), NextAt: T0.Add(3 * time.Minute)}))
	Update(t, s, "early", Set(&store.EscalationChange{Route: "db", State: State(0), NextAt: T0.Add(time.Minute)}))
	got, err := s.ClaimDueEscalations(context.Background(), T0.Add(time.Hour), Lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Escalation{
		{IncidentKey: "early", Route: "db", State: State(0), NextAt: T0.Add(time.Minute), UpdatedAt: got[0].UpdatedAt},
		{IncidentKey: "late", Route: "ops", State: State(0), NextAt: T0.Add(3 * time.Minute), UpdatedAt: got[1].UpdatedAt, Payload: in.Payload},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
}

func testIngestEscalates(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	in := NewIngest("inc1", "h1", T0, "pager")
	in.Escalate = store.EscalationHookFunc(func(cur *store.Escalation) (*store.EscalationChange, error) {
		if cur != nil {
			t.Errorf("first notification: fn got %+v, want nil", cur)
		}
		return &store.EscalationChange{Policy: "p", State: State(1), NextAt: T0.Add(time.Minute),
			Deliveries: []store.NewDelivery{{Channel: "chat", Kind: "trigger"}}}, nil
	})
	if diff := cmp.Diff(store.IngestResult{Deliveries: 2}, MustIngest(t, s, in)); diff != "" {
		t.Fatalf("ingest result (-want +got):\n%s", diff)
	}
	want := []store.Escalation{{IncidentKey: "inc1", Route: "ops", Policy: "p", State: State(1),
		NextAt: T0.Add(time.Minute), UpdatedAt: T0, Payload: in.Payload}}
	if diff := cmp.Diff(want, OpenEscalations(t, s)); diff != "" {
		t.Fatalf("escalations (-want +got):\n%s", diff)
	}

	dup := NewIngest("inc1", "h1", T0.Add(time.Minute), "pager")
	dup.Escalate = store.EscalationHookFunc(func(*store.Escalation) (*store.EscalationChange, error) {
		t.Error("Escalate ran for a duplicate")
		return nil, nil
	})
	if res := MustIngest(t, s, dup); !res.Duplicate {
		t.Fatalf("repeated state: %+v, want a duplicate", res)
	}

	// The next notification's payload is the escalation's, even when the
	// hook changes nothing.
	next := NewIngest("inc1", "h2", T0.Add(2*time.Minute), "pager")
	next.Escalate = store.EscalationHookFunc(func(cur *store.Escalation) (*store.EscalationChange, error) {
		if cur == nil || string(cur.Payload) != string(next.Payload) {
			t.Errorf("fn got %+v, want the escalation with this notification's payload", cur)
		}
		return nil, nil
	})
	MustIngest(t, s, next)
	want[0].Payload = next.Payload
	if diff := cmp.Diff(want, OpenEscalations(t, s)); diff != "" {
		t.Fatalf("escalations after a nil change (-want +got):\n%s", diff)
	}
	want2 := []string{"pager/inc1/" + string(in.Payload), "chat/inc1/" + string(in.Payload)}
	if diff := cmp.Diff(want2, IDs(Claim(t, s, T0, 10))); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
}

// testEscalationKeys: the keys that start with a prefix, in order, up to
// the limit; a prefix ending in f or 9 stops at the next digit.
func testEscalationKeys(t *testing.T, db Database) {
	s := db.Open(t, Options{Now: testkit.NewClock(T0).Now})
	keys := []string{"3f9a00", "3f9a1c2e00", "3f9a1c2e7f", "3f9a1c2f00", "3f9b00", "3fa000", "4000"}
	for _, k := range keys {
		Update(t, s, k, Set(&store.EscalationChange{Route: "ops", Policy: "p", State: State(1)}))
	}
	for _, tc := range []struct {
		prefix string
		limit  int
		want   []string
	}{
		{"3f9a1c2e", 10, []string{"3f9a1c2e00", "3f9a1c2e7f"}},
		{"3f9a1c2e", 1, []string{"3f9a1c2e00"}},
		{"3f9a1c2e7f", 10, []string{"3f9a1c2e7f"}},
		{"3f9", 10, []string{"3f9a00", "3f9a1c2e00", "3f9a1c2e7f", "3f9a1c2f00", "3f9b00"}},
		{"3f", 10, []string{"3f9a00", "3f9a1c2e00", "3f9a1c2e7f", "3f9a1c2f00", "3f9b00", "3fa000"}},
		{"3f9a1c2e7f00", 10, nil},
		{"5", 10, nil},
		{"", 3, keys[:3]},
		{"3f", 0, nil},
	} {
		got, err := s.EscalationKeys(context.Background(), tc.prefix, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("EscalationKeys(%q, %d) (-want +got):\n%s", tc.prefix, tc.limit, diff)
		}
	}
}

func testUseNonce(t *testing.T, db Database) {
	c := testkit.NewClock(T0)
	s := db.Open(t, Options{Now: c.Now})
	ctx := context.Background()
	use := func(nonce string, until time.Time) bool {
		t.Helper()
		first, err := s.UseNonce(ctx, nonce, until)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	got := []bool{use("n1", T0.Add(time.Hour)), use("n1", T0.Add(time.Hour)), use("n2", T0.Add(time.Hour))}
	if diff := cmp.Diff([]bool{true, false, true}, got); diff != "" {
		t.Fatalf("first uses (-want +got):\n%s", diff)
	}
	c.Set(T0.Add(time.Hour - time.Nanosecond))
	if use("n1", T0.Add(2*time.Hour)) {
		t.Fatal("a nonce reused before its time passed")
	}
	c.Set(T0.Add(time.Hour))
	if !use("n1", T0.Add(2*time.Hour)) {
		t.Fatal("a nonce whose time passed still counts as used")
	}
	if use("n1", T0.Add(2*time.Hour)) {
		t.Fatal("a nonce used again after its time passed is not used")
	}
	const want = "using nonce: nonce is empty"
	if _, err := s.UseNonce(ctx, "", T0); err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func testPruneKeepsEscalations(t *testing.T, db Database) {
	c := testkit.NewClock(T0)
	s := db.Open(t, Options{Now: c.Now, Retention: time.Hour})
	ctx := context.Background()
	in := NewIngest("inc1", "h1", T0, "pager")
	in.Status = "resolved"
	in.Escalate = store.EscalationHookFunc(Set(&store.EscalationChange{State: State(1)}))
	MustIngest(t, s, in)
	for _, d := range Claim(t, s, T0, 10) {
		if err := s.Complete(ctx, d.Lease(), T0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UseNonce(ctx, "n1", T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	prunedAt(t, db, s, c, T0.Add(2*time.Hour))

	rows, payloads, incidents := countRows(t, db)
	if diff := cmp.Diff([]int{0, 1, 1}, []int{rows, payloads, incidents}); diff != "" {
		t.Fatalf("outbox rows, payloads, incidents after pruning (-want +got):\n%s", diff)
	}
	if es := OpenEscalations(t, s); len(es) != 1 || string(es[0].Payload) != string(in.Payload) {
		t.Fatalf("escalations after pruning: %+v, want inc1's with its payload", es)
	}
	if n := countNonces(t, db); n != 0 {
		t.Fatalf("%d nonces after their time passed, want 0", n)
	}
}

func testEscalationsSurviveRestart(t *testing.T, db Database) {
	s := db.Open(t, Options{Now: testkit.NewClock(T0).Now})
	ctx := context.Background()
	Update(t, s, "inc1", Set(&store.EscalationChange{Route: "ops", Policy: "p", State: State(3), NextAt: T0.Add(time.Minute)}))
	Update(t, s, "inc2", Set(&store.EscalationChange{Route: "ops", Policy: "p", State: State(1), NextAt: T0.Add(time.Minute)}))
	claimEscalations(t, s, T0.Add(time.Minute), 1) // inc1 leased when the process stops
	if _, err := s.UseNonce(ctx, "n1", T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := OpenEscalations(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = db.Open(t, Options{Now: testkit.NewClock(T0).Now})
	if diff := cmp.Diff(before, OpenEscalations(t, s)); diff != "" {
		t.Fatalf("escalations after restart (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"inc2"}, claimEscalations(t, s, T0.Add(time.Minute), 10)); diff != "" {
		t.Fatalf("claimed after restart (-want +got):\n%s", diff)
	}
	if first, err := s.UseNonce(ctx, "n1", T0.Add(time.Hour)); err != nil || first {
		t.Fatalf("nonce used before the restart: first use %v, %v", first, err)
	}
}

func testEscalationsUnavailable(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"UpdateEscalation": s.UpdateEscalation(ctx, "inc1", Set(&store.EscalationChange{})),
		"ClaimDueEscalations": func() error {
			_, err := s.ClaimDueEscalations(ctx, T0, Lease, 1)
			return err
		}(),
		"OpenEscalations": func() error { _, err := s.OpenEscalations(ctx); return err }(),
		"UseNonce":        func() error { _, err := s.UseNonce(ctx, "n1", T0); return err }(),
	} {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s on a closed store: %v, want store.ErrUnavailable", name, err)
		}
	}
}

var errBoom = errors.New("boom")

func claimEscalations(t testing.TB, s Store, now time.Time, limit int) []string {
	t.Helper()
	es, err := s.ClaimDueEscalations(context.Background(), now, Lease, limit)
	if err != nil {
		t.Fatal(err)
	}
	return EscalationKeysOf(es)
}

// testIngestEscalateFails: a failing hook fails its Ingest, which records
// nothing.
func testIngestEscalateFails(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	in := NewIngest("inc1", "h1", T0, "pager")
	in.Escalate = store.EscalationHookFunc(func(*store.Escalation) (*store.EscalationChange, error) { return nil, errBoom })
	_, err := s.Ingest(context.Background(), in)
	const want = "recording notification: escalating incident inc1: boom"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if !errors.Is(err, errBoom) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("error %v: want the hook's, not the store's", err)
	}
	if got := Claim(t, s, T0, 10); len(got) != 0 {
		t.Fatalf("the failed ingest left deliveries: %v", IDs(got))
	}
	if got := OpenEscalations(t, s); len(got) != 0 {
		t.Fatalf("the failed ingest left escalations: %+v", got)
	}
	// inc1's state was not recorded: the same notification is not a
	// duplicate.
	if res := MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager")); res.Duplicate {
		t.Fatal("the failed ingest recorded the incident's state")
	}
}

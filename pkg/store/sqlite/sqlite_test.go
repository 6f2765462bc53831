package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const lease = 2 * time.Minute

func open(t testing.TB, path string, opts sqlite.Options) *sqlite.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "data", "klaxon.db")
	}
	opts.Logger = promslog.NewNopLogger()
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newIngest(key, hash string, at time.Time, channels ...string) *store.Ingest {
	return &store.Ingest{
		Route:       "ops",
		IncidentKey: key,
		GroupKey:    `{}:{alertname="` + key + `"}`,
		StateHash:   hash,
		Status:      "firing",
		Kind:        "trigger",
		Payload:     []byte(payload(key, hash)),
		Channels:    channels,
		ReceivedAt:  at,
	}
}

func payload(key, hash string) string { return `{"incident":"` + key + `","state":"` + hash + `"}` }

func mustIngest(t testing.TB, s store.Store, in *store.Ingest) store.IngestResult {
	t.Helper()
	res, err := s.Ingest(context.Background(), in)
	if err != nil {
		t.Fatalf("ingest %s/%s: %v", in.IncidentKey, in.StateHash, err)
	}
	return res
}

func claim(t testing.TB, s store.Store, now time.Time, limit int) []store.Delivery {
	t.Helper()
	ds, err := s.Claim(context.Background(), now, lease, limit)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// ids returns "channel/incident/payload" for each delivery.
func ids(ds []store.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s/%s/%s", d.Channel, d.IncidentKey, d.Payload))
	}
	return out
}

// keys returns "channel/incident" for each delivery.
func keys(ds []store.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Channel+"/"+d.IncidentKey)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	ctx := context.Background()
	in := newIngest("inc1", "h1", t0, "pager", "chat")
	if diff := cmp.Diff(store.IngestResult{Deliveries: 2}, mustIngest(t, s, in)); diff != "" {
		t.Fatalf("ingest result (-want +got):\n%s", diff)
	}

	got := claim(t, s, t0, 10)
	want := []store.Delivery{
		{Channel: "pager", Route: "ops", IncidentKey: "inc1", Kind: "trigger", Payload: in.Payload, CreatedAt: t0, NextAttempt: t0},
		{Channel: "chat", Route: "ops", IncidentKey: "inc1", Kind: "trigger", Payload: in.Payload, CreatedAt: t0, NextAttempt: t0},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.Delivery{}, "ID")); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	for _, d := range got {
		if err := s.Complete(ctx, d.ID, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if again := claim(t, s, t0.Add(time.Hour), 10); len(again) != 0 {
		t.Fatalf("completed deliveries claimed again: %v", ids(again))
	}
	const wantErr = "completing delivery 1: no such pending delivery"
	if err := s.Complete(ctx, got[0].ID, t0); err == nil || err.Error() != wantErr {
		t.Fatalf("completing a done delivery: %v, want %q", err, wantErr)
	}
	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 0 {
		t.Fatalf("stats after delivery: %+v", stats)
	}
}

func TestDuplicateState(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager"))
	res := mustIngest(t, s, newIngest("inc1", "h1", t0.Add(time.Minute), "pager"))
	if diff := cmp.Diff(store.IngestResult{Duplicate: true}, res); diff != "" {
		t.Fatalf("repeated state (-want +got):\n%s", diff)
	}
	if got := keys(claim(t, s, t0.Add(time.Hour), 10)); !cmp.Equal(got, []string{"pager/inc1"}) {
		t.Fatalf("claimed %v, want only the first notification's delivery", got)
	}
	// A changed state is not a duplicate, nor is a return to an older one.
	if res := mustIngest(t, s, newIngest("inc1", "h2", t0.Add(2*time.Minute), "pager")); res.Duplicate {
		t.Fatal("changed state reported as duplicate")
	}
	if res := mustIngest(t, s, newIngest("inc1", "h1", t0.Add(3*time.Minute), "pager")); res.Duplicate {
		t.Fatal("return to an older state reported as duplicate")
	}
	// The same state of another incident is not a duplicate either.
	if res := mustIngest(t, s, newIngest("inc2", "h1", t0.Add(3*time.Minute), "pager")); res.Duplicate {
		t.Fatal("another incident's state reported as duplicate")
	}
}

func TestPerIncidentOrder(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	ctx := context.Background()
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager"))
	mustIngest(t, s, newIngest("inc1", "h2", t0.Add(time.Second), "pager"))
	mustIngest(t, s, newIngest("inc2", "h1", t0.Add(2*time.Second), "pager"))

	first := claim(t, s, t0.Add(time.Minute), 10)
	if diff := cmp.Diff([]string{"pager/inc1/" + payload("inc1", "h1"), "pager/inc2/" + payload("inc2", "h1")}, ids(first)); diff != "" {
		t.Fatalf("first claim (-want +got):\n%s", diff)
	}
	// The lease passes: inc1's first delivery, still the oldest, is offered
	// again and its second is not.
	if got := ids(claim(t, s, t0.Add(time.Minute+lease), 10)); !cmp.Equal(got, ids(first)) {
		t.Fatalf("after the lease claimed %v, want %v", got, ids(first))
	}
	if err := s.Complete(ctx, first[0].ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := claim(t, s, t0.Add(time.Minute+2*lease), 10)
	if diff := cmp.Diff([]string{"pager/inc1/" + payload("inc1", "h2"), "pager/inc2/" + payload("inc2", "h1")}, ids(got)); diff != "" {
		t.Fatalf("after completing the first (-want +got):\n%s", diff)
	}
}

func TestRetryHoldsBackTheIncident(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	ctx := context.Background()
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager"))
	mustIngest(t, s, newIngest("inc1", "h2", t0, "pager"))
	mustIngest(t, s, newIngest("inc1", "h2", t0, "pager", "chat"))
	d := claim(t, s, t0, 1)[0]
	if err := s.Reschedule(ctx, d.ID, t0.Add(time.Hour), "upstream answered 503"); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, s, t0.Add(time.Minute), 10); len(got) != 0 {
		t.Fatalf("claimed %v while the incident's oldest delivery waits for its retry", ids(got))
	}
}

func TestLease(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager"))
	if got := claim(t, s, t0, 10); len(got) != 1 {
		t.Fatalf("claimed %d, want 1", len(got))
	}
	if got := claim(t, s, t0.Add(lease-time.Millisecond), 10); len(got) != 0 {
		t.Fatalf("leased delivery claimed again before the lease passed: %v", ids(got))
	}
	if got := claim(t, s, t0.Add(lease), 10); len(got) != 1 {
		t.Fatalf("claimed %d once the lease passed, want 1", len(got))
	}
}

func TestClaimLimitOldestFirst(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	for i := range 5 {
		mustIngest(t, s, newIngest(fmt.Sprintf("inc%d", i), "h", t0.Add(time.Duration(i)*time.Second), "pager"))
	}
	if diff := cmp.Diff([]string{"pager/inc0", "pager/inc1", "pager/inc2"}, keys(claim(t, s, t0.Add(time.Minute), 3))); diff != "" {
		t.Fatalf("claim (-want +got):\n%s", diff)
	}
	if got := claim(t, s, t0.Add(time.Minute), 0); len(got) != 0 {
		t.Fatalf("claim with limit 0 returned %v", ids(got))
	}
}

func TestNotDueYet(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager"))
	if got := claim(t, s, t0.Add(-time.Second), 10); len(got) != 0 {
		t.Fatalf("claimed %v before it was due", ids(got))
	}
}

func TestRescheduleBuryRequeue(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	ctx := context.Background()
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager", "chat"))
	mustIngest(t, s, newIngest("inc2", "h1", t0.Add(time.Second), "pager"))
	ds := claim(t, s, t0.Add(time.Second), 10)
	pager1, chat1, pager2 := ds[0], ds[1], ds[2]

	next := t0.Add(10 * time.Minute)
	if err := s.Reschedule(ctx, pager1.ID, next, "upstream answered 503 Service Unavailable"); err != nil {
		t.Fatal(err)
	}
	for _, d := range claim(t, s, next.Add(-time.Millisecond), 10) {
		if d.ID == pager1.ID {
			t.Fatal("rescheduled delivery claimed before its time")
		}
	}
	got := claim(t, s, next, 10)
	wantRetry := pager1
	wantRetry.Attempts, wantRetry.LastError, wantRetry.NextAttempt = 1, "upstream answered 503 Service Unavailable", next
	if diff := cmp.Diff([]store.Delivery{wantRetry}, got); diff != "" {
		t.Fatalf("rescheduled delivery at its time (-want +got):\n%s", diff)
	}

	if err := s.Bury(ctx, chat1.ID, "upstream answered 400 Bad Request: invalid_payload"); err != nil {
		t.Fatal(err)
	}
	if err := s.Bury(ctx, pager2.ID, "gave up"); err != nil {
		t.Fatal(err)
	}
	dead, err := s.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantChat, wantPager2 := chat1, pager2
	wantChat.Attempts, wantChat.LastError = 1, "upstream answered 400 Bad Request: invalid_payload"
	wantPager2.Attempts, wantPager2.LastError = 1, "gave up"
	if diff := cmp.Diff([]store.Delivery{wantChat, wantPager2}, dead); diff != "" {
		t.Fatalf("dead letters (-want +got):\n%s", diff)
	}
	if got := claim(t, s, next.Add(time.Hour), 10); len(got) != 1 || got[0].ID != pager1.ID {
		t.Fatalf("claimed %v, want only the pending delivery, no dead letter", ids(got))
	}

	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantStats := []store.ChannelStats{
		{Channel: "chat", Dead: 1},
		{Channel: "pager", Pending: 1, OldestPending: t0, Dead: 1},
	}
	if diff := cmp.Diff(wantStats, stats); diff != "" {
		t.Fatalf("stats (-want +got):\n%s", diff)
	}

	requeueAt := t0.Add(3 * time.Hour)
	if n, err := s.Requeue(ctx, requeueAt, chat1.ID); err != nil || n != 1 {
		t.Fatalf("requeue one: %d, %v", n, err)
	}
	wantChat.NextAttempt = requeueAt
	var requeued []store.Delivery
	for _, d := range claim(t, s, requeueAt, 10) {
		if d.Channel == "chat" {
			requeued = append(requeued, d)
		}
	}
	if diff := cmp.Diff([]store.Delivery{wantChat}, requeued); diff != "" {
		t.Fatalf("requeued delivery (-want +got):\n%s", diff)
	}
	if n, err := s.Requeue(ctx, requeueAt); err != nil || n != 1 {
		t.Fatalf("requeue all: %d, %v (want 1: the other dead letter)", n, err)
	}
	if dead, err := s.DeadLetters(ctx); err != nil || len(dead) != 0 {
		t.Fatalf("dead letters after requeue: %v, %v", ids(dead), err)
	}
	if n, err := s.Requeue(ctx, requeueAt, pager1.ID); err != nil || n != 0 {
		t.Fatalf("requeueing a pending delivery: %d, %v, want 0", n, err)
	}

	const wantErr = "burying delivery 9999: no such pending delivery"
	if err := s.Bury(ctx, 9999, "no such row"); err == nil || err.Error() != wantErr {
		t.Fatalf("burying a missing delivery: %v, want %q", err, wantErr)
	}
	const wantErr2 = "rescheduling delivery 9999: no such pending delivery"
	if err := s.Reschedule(ctx, 9999, t0, "x"); err == nil || err.Error() != wantErr2 {
		t.Fatalf("rescheduling a missing delivery: %v, want %q", err, wantErr2)
	}
}

func TestRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	s := open(t, path, sqlite.Options{})
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager", "chat"))
	mustIngest(t, s, newIngest("inc2", "h1", t0, "pager"))
	d := claim(t, s, t0, 1)[0]
	if err := s.Complete(context.Background(), d.ID, t0); err != nil {
		t.Fatal(err)
	}
	claim(t, s, t0, 10) // leased when the process stops
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, sqlite.Options{})
	if got := claim(t, s, t0.Add(lease-time.Millisecond), 10); len(got) != 0 {
		t.Fatalf("claimed %v before the old process's leases passed", ids(got))
	}
	got := keys(claim(t, s, t0.Add(lease), 10))
	if diff := cmp.Diff([]string{"chat/inc1", "pager/inc2"}, got); diff != "" {
		t.Fatalf("pending after restart (-want +got):\n%s", diff)
	}
	if res := mustIngest(t, s, newIngest("inc1", "h1", t0.Add(time.Hour), "pager")); !res.Duplicate {
		t.Fatal("state recorded before the restart not recognised after it")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	s := open(t, path, sqlite.Options{})
	s.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("INSERT INTO schema_version (version) VALUES (99)"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = sqlite.Open(context.Background(), path, sqlite.Options{})
	const want = "database schema version 99 is newer than this klaxon-receiver knows (1): run a newer release"
	if err == nil || err.Error() != want {
		t.Fatalf("opening a newer schema: %v, want %q", err, want)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a?b.db"), sqlite.Options{})
	if err == nil || !strings.HasSuffix(err.Error(), "a?b.db\" must not contain '?'") {
		t.Fatalf("path with '?': %v", err)
	}
}

func TestRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	s := open(t, path, sqlite.Options{Retention: time.Second})
	ctx := context.Background()
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager"))
	mustIngest(t, s, newIngest("inc2", "h1", t0, "pager"))
	resolved := newIngest("inc3", "h1", t0, "pager")
	resolved.Status, resolved.Kind = "resolved", "resolve"
	mustIngest(t, s, resolved)
	ds := claim(t, s, t0, 10)
	for _, i := range []int{0, 2} {
		if err := s.Complete(ctx, ds[i].ID, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Bury(ctx, ds[1].ID, "rejected"); err != nil {
		t.Fatal(err)
	}
	count := func() (rows, payloads, incidents int) {
		raw, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if err := raw.QueryRow(`SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM notifications),
			(SELECT count(*) FROM incidents)`).Scan(&rows, &payloads, &incidents); err != nil {
			t.Fatal(err)
		}
		return rows, payloads, incidents
	}
	// Within the minute after the last pruning (the first claim), nothing
	// is pruned.
	claim(t, s, t0.Add(59*time.Second), 10)
	if r, p, i := count(); r != 3 || p != 3 || i != 3 {
		t.Fatalf("within a minute of the last pruning: %d outbox rows, %d payloads, %d incidents; want 3, 3, 3", r, p, i)
	}
	claim(t, s, t0.Add(time.Minute), 10)
	// The firing incident stays, so that a repeat of its state is a
	// duplicate; the resolved one goes.
	if r, p, i := count(); r != 1 || p != 1 || i != 2 {
		t.Fatalf("after the retention: %d outbox rows, %d payloads, %d incidents; want 1, 1, 2 (the dead letter, two firing incidents)", r, p, i)
	}
	if dead, err := s.DeadLetters(ctx); err != nil || len(dead) != 1 || string(dead[0].Payload) != payload("inc2", "h1") {
		t.Fatalf("dead letter after the retention: %v, %v", ids(dead), err)
	}
	if res := mustIngest(t, s, newIngest("inc1", "h1", t0.Add(2*time.Hour), "pager")); !res.Duplicate {
		t.Fatal("the firing incident's state was forgotten")
	}
}

func TestClosed(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Ingest(context.Background(), newIngest("inc1", "h1", t0, "pager"))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ingest after Close: %v, want ErrUnavailable", err)
	}
}

func TestPostponeKeepsAttemptsAndError(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	ctx := context.Background()
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager"))
	d := claim(t, s, t0, 1)[0]
	if err := s.Reschedule(ctx, d.ID, t0, "upstream answered 503"); err != nil {
		t.Fatal(err)
	}
	d = claim(t, s, t0, 1)[0]
	if err := s.Postpone(ctx, d.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, s, t0.Add(time.Hour-time.Millisecond), 10); len(got) != 0 {
		t.Fatalf("postponed delivery claimed early: %v", ids(got))
	}
	got := claim(t, s, t0.Add(time.Hour), 10)
	if len(got) != 1 || got[0].Attempts != 1 || got[0].LastError != "upstream answered 503" {
		t.Fatalf("after postponing: %+v, want 1 attempt and the upstream's error kept", got)
	}
	if err := s.Postpone(ctx, 9999, t0); err == nil || err.Error() != "postponing delivery 9999: no such pending delivery" {
		t.Errorf("postponing a missing delivery: %v", err)
	}
}

package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
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
	if res, err := s.Requeue(ctx, requeueAt, chat1.ID); err != nil || !cmp.Equal(res, store.RequeueResult{Requeued: 1}) {
		t.Fatalf("requeue one: %+v, %v", res, err)
	}
	wantChat.NextAttempt, wantChat.RequeuedAt = requeueAt, requeueAt
	var requeued []store.Delivery
	for _, d := range claim(t, s, requeueAt, 10) {
		if d.Channel == "chat" {
			requeued = append(requeued, d)
		}
	}
	if diff := cmp.Diff([]store.Delivery{wantChat}, requeued); diff != "" {
		t.Fatalf("requeued delivery (-want +got):\n%s", diff)
	}
	if res, err := s.Requeue(ctx, requeueAt); err != nil || !cmp.Equal(res, store.RequeueResult{Requeued: 1}) {
		t.Fatalf("requeue all: %+v, %v (want 1: the other dead letter)", res, err)
	}
	if dead, err := s.DeadLetters(ctx); err != nil || len(dead) != 0 {
		t.Fatalf("dead letters after requeue: %v, %v", ids(dead), err)
	}
	if res, err := s.Requeue(ctx, requeueAt, pager1.ID); err != nil || !cmp.Equal(res, store.RequeueResult{}) {
		t.Fatalf("requeueing a pending delivery: %+v, %v, want nothing requeued", res, err)
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

// TestRequeueSkipsSuperseded: a dead trigger whose incident's later
// resolve was delivered on the same channel stays dead, even once the
// resolve's row is past the retention; on another channel, where nothing
// later was delivered, the dead letter is requeued.
func TestRequeueSkipsSuperseded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	clk := testkit.NewClock(t0)
	s := open(t, path, sqlite.Options{Retention: time.Hour, PruneInterval: time.Millisecond, Now: clk.Now})
	ctx := context.Background()
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager", "chat"))
	resolved := newIngest("inc1", "h2", t0, "pager", "chat")
	resolved.Status, resolved.Kind = "resolved", "resolve"
	mustIngest(t, s, resolved)

	triggers := claim(t, s, t0, 10)
	pagerTrigger, chatTrigger := triggers[0], triggers[1]
	if err := s.Bury(ctx, pagerTrigger.ID, "rejected"); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, chatTrigger.ID, t0); err != nil {
		t.Fatal(err)
	}
	resolves := claim(t, s, t0, 10) // the pager's resolve goes while its trigger lies dead
	if diff := cmp.Diff([]string{"pager/inc1/" + payload("inc1", "h2"), "chat/inc1/" + payload("inc1", "h2")}, ids(resolves)); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	if err := s.Complete(ctx, resolves[0].ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Bury(ctx, resolves[1].ID, "rejected"); err != nil {
		t.Fatal(err)
	}

	res, err := s.Requeue(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(store.RequeueResult{Requeued: 1, Superseded: []int64{pagerTrigger.ID}}, res); diff != "" {
		t.Fatalf("requeue all (-want +got):\n%s", diff)
	}
	if got := ids(claim(t, s, t0.Add(lease), 10)); !cmp.Equal(got, []string{"chat/inc1/" + payload("inc1", "h2")}) {
		t.Fatalf("claimed %v after the requeue, want only the chat's resolve", got)
	}
	dead, err := s.DeadLetters(ctx)
	if err != nil || len(dead) != 1 || dead[0].ID != pagerTrigger.ID {
		t.Fatalf("dead letters after the requeue: %v, %v; want the pager's trigger", ids(dead), err)
	}

	// The pruner keeps the delivered resolve that supersedes the dead
	// trigger, and deletes the chat's delivered trigger.
	prunedAt(t, s, clk, t0.Add(2*time.Hour))
	if r, _, _ := countRows(t, path); r != 3 {
		t.Fatalf("%d outbox rows after the retention, want 3: the dead trigger, the resolve that supersedes it, the chat's pending resolve", r)
	}
	res, err = s.Requeue(ctx, t0.Add(2*time.Hour), pagerTrigger.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(store.RequeueResult{Superseded: []int64{pagerTrigger.ID}}, res); diff != "" {
		t.Fatalf("requeue by id after the retention (-want +got):\n%s", diff)
	}
}

// TestUpgradeFromSchema1: a file written before requeued_at existed opens,
// its dead letters read as never requeued, and requeueing them records when.
func TestUpgradeFromSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	init1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT 0)`,
		string(init1),
		`INSERT INTO schema_version (version) VALUES (1)`,
		`INSERT INTO notifications (incident_key, received_at, payload) VALUES ('inc1', 0, '{}')`,
		`INSERT INTO outbox (channel, route, incident_key, kind, notification_id, created_at, next_attempt_at, attempts, last_error, state)
			VALUES ('pager', 'ops', 'inc1', 'trigger', 1, 0, 0, 1, 'rejected', 'dead')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	s := open(t, path, sqlite.Options{})
	ctx := context.Background()
	dead, err := s.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Delivery{{ID: 1, Channel: "pager", Route: "ops", IncidentKey: "inc1", Kind: "trigger",
		Payload: []byte("{}"), Attempts: 1, LastError: "rejected"}}
	if diff := cmp.Diff(want, dead); diff != "" {
		t.Fatalf("dead letters after the upgrade (-want +got):\n%s", diff)
	}
	if _, err := s.Requeue(ctx, t0); err != nil {
		t.Fatal(err)
	}
	want[0].RequeuedAt, want[0].NextAttempt = t0, t0
	if diff := cmp.Diff(want, claim(t, s, t0, 10)); diff != "" {
		t.Fatalf("requeued after the upgrade (-want +got):\n%s", diff)
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

// TestNewerSchemaRefused: a database whose schema version is higher than
// the last migration is refused, whether goose recorded it or the version
// table before goose did.
func TestNewerSchemaRefused(t *testing.T) {
	for _, tc := range []struct{ name, insert string }{
		{"goose", "INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, 1)"},
		{"before goose", `CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT 0);
			INSERT INTO schema_version (version) VALUES (1), (2), (3), (99)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "klaxon.db")
			s := open(t, path, sqlite.Options{})
			s.Close()
			raw, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(tc.insert); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			_, err = sqlite.Open(context.Background(), path, sqlite.Options{})
			const want = "database schema version 99 is newer than this klaxon-receiver knows (3): run a newer release"
			if err == nil || err.Error() != want {
				t.Fatalf("opening a newer schema: %v, want %q", err, want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a?b.db"), sqlite.Options{})
	if err == nil || !strings.HasSuffix(err.Error(), "a?b.db\" must not contain '?'") {
		t.Fatalf("path with '?': %v", err)
	}
}

// wait is how long a test waits for the pruner; a failure, never a pause.
const wait = 10 * time.Second

// prunedAt sets the pruner's clock and waits for a pass that read it: the
// second to finish after it was set, since the first may have started
// before.
func prunedAt(t *testing.T, s *sqlite.Store, c *testkit.Clock, now time.Time) {
	t.Helper()
	c.Set(now)
	from := s.PrunePasses()
	testenv.Eventually(t, wait, func() error {
		if n := s.PrunePasses() - from; n < 2 {
			return fmt.Errorf("%d pruning passes since the clock moved, want 2", n)
		}
		return nil
	})
}

// countRows counts the outbox rows, payloads and incidents in the file.
func countRows(t *testing.T, path string) (rows, payloads, incidents int) {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
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

func TestRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	clk := testkit.NewClock(t0)
	s := open(t, path, sqlite.Options{Retention: time.Second, PruneInterval: time.Millisecond, Now: clk.Now})
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
	// Within the retention, nothing is pruned.
	prunedAt(t, s, clk, t0.Add(time.Second))
	if r, p, i := countRows(t, path); r != 3 || p != 3 || i != 3 {
		t.Fatalf("within the retention: %d outbox rows, %d payloads, %d incidents; want 3, 3, 3", r, p, i)
	}
	prunedAt(t, s, clk, t0.Add(time.Second+time.Nanosecond))
	// The firing incident stays, so that a repeat of its state is a
	// duplicate; the resolved one goes.
	if r, p, i := countRows(t, path); r != 1 || p != 1 || i != 2 {
		t.Fatalf("after the retention: %d outbox rows, %d payloads, %d incidents; want 1, 1, 2 (the dead letter, two firing incidents)", r, p, i)
	}
	if dead, err := s.DeadLetters(ctx); err != nil || len(dead) != 1 || string(dead[0].Payload) != payload("inc2", "h1") {
		t.Fatalf("dead letter after the retention: %v, %v", ids(dead), err)
	}
	if res := mustIngest(t, s, newIngest("inc1", "h1", t0.Add(2*time.Hour), "pager")); !res.Duplicate {
		t.Fatal("the firing incident's state was forgotten")
	}
}

// TestClaimDoesNotPrune: with a backlog of delivered rows past the
// retention, Claim leaves them to the pruner, which deletes them all, more
// than one chunk.
func TestClaimDoesNotPrune(t *testing.T) {
	const backlog = 2500
	path := filepath.Join(t.TempDir(), "klaxon.db")
	open(t, path, sqlite.Options{}).Close()
	insertDone(t, path, backlog, t0)

	clk := testkit.NewClock(t0)
	s := open(t, path, sqlite.Options{Retention: time.Hour, PruneInterval: time.Millisecond, Now: clk.Now})
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager"))
	if got := keys(claim(t, s, t0.Add(48*time.Hour), 10)); !cmp.Equal(got, []string{"pager/inc1"}) {
		t.Fatalf("claimed %v, want pager/inc1", got)
	}
	if r, _, _ := countRows(t, path); r != backlog+1 {
		t.Fatalf("%d outbox rows after Claim, want %d: Claim pruned", r, backlog+1)
	}
	clk.Set(t0.Add(48 * time.Hour))
	testenv.Eventually(t, wait, func() error {
		if r, p, _ := countRows(t, path); r != 1 || p != 1 {
			return fmt.Errorf("%d outbox rows and %d payloads, want 1 and 1: the pending delivery's", r, p)
		}
		return nil
	})
}

// insertDone adds n delivered rows, done at at, straight into the file.
func insertDone(t *testing.T, path string, n int, at time.Time) {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`INSERT INTO notifications (incident_key, received_at, payload) VALUES ('bulk', :at, '{}');
		WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n)
		INSERT INTO outbox (channel, route, incident_key, kind, notification_id, created_at, next_attempt_at, state, done_at)
		SELECT 'pager', 'ops', 'bulk' || i, 'trigger', (SELECT max(id) FROM notifications), :at, :at, 'done', :at FROM seq`,
		sql.Named("at", at.UnixNano()), sql.Named("n", n)); err != nil {
		t.Fatal(err)
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

package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
)

func testRoundTrip(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	ctx := context.Background()
	in := NewIngest("inc1", "h1", T0, "pager", "chat")
	if diff := cmp.Diff(store.IngestResult{Deliveries: 2}, MustIngest(t, s, in)); diff != "" {
		t.Fatalf("ingest result (-want +got):\n%s", diff)
	}

	got := Claim(t, s, T0, 10)
	want := []store.Delivery{
		{Channel: "pager", Route: "ops", IncidentKey: "inc1", Kind: "trigger", Payload: in.Payload, CreatedAt: T0, NextAttempt: T0, Claim: 1},
		{Channel: "chat", Route: "ops", IncidentKey: "inc1", Kind: "trigger", Payload: in.Payload, CreatedAt: T0, NextAttempt: T0, Claim: 1},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.Delivery{}, "ID")); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	for _, d := range got {
		if err := s.Complete(ctx, d.Lease(), T0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if again := Claim(t, s, T0.Add(time.Hour), 10); len(again) != 0 {
		t.Fatalf("completed deliveries claimed again: %v", IDs(again))
	}
	const wantErr = "completing delivery 1: no such pending delivery"
	if err := s.Complete(ctx, got[0].Lease(), T0); err == nil || err.Error() != wantErr {
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

func testDuplicateState(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager"))
	res := MustIngest(t, s, NewIngest("inc1", "h1", T0.Add(time.Minute), "pager"))
	if diff := cmp.Diff(store.IngestResult{Duplicate: true}, res); diff != "" {
		t.Fatalf("repeated state (-want +got):\n%s", diff)
	}
	if got := Keys(Claim(t, s, T0.Add(time.Hour), 10)); !cmp.Equal(got, []string{"pager/inc1"}) {
		t.Fatalf("claimed %v, want only the first notification's delivery", got)
	}
	// A changed state is not a duplicate, nor is a return to an older one.
	if res := MustIngest(t, s, NewIngest("inc1", "h2", T0.Add(2*time.Minute), "pager")); res.Duplicate {
		t.Fatal("changed state reported as duplicate")
	}
	if res := MustIngest(t, s, NewIngest("inc1", "h1", T0.Add(3*time.Minute), "pager")); res.Duplicate {
		t.Fatal("return to an older state reported as duplicate")
	}
	// The same state of another incident is not a duplicate either.
	if res := MustIngest(t, s, NewIngest("inc2", "h1", T0.Add(3*time.Minute), "pager")); res.Duplicate {
		t.Fatal("another incident's state reported as duplicate")
	}
}

func testPerIncidentOrder(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	ctx := context.Background()
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager"))
	MustIngest(t, s, NewIngest("inc1", "h2", T0.Add(time.Second), "pager"))
	MustIngest(t, s, NewIngest("inc2", "h1", T0.Add(2*time.Second), "pager"))

	first := Claim(t, s, T0.Add(time.Minute), 10)
	if diff := cmp.Diff([]string{"pager/inc1/" + Payload("inc1", "h1"), "pager/inc2/" + Payload("inc2", "h1")}, IDs(first)); diff != "" {
		t.Fatalf("first claim (-want +got):\n%s", diff)
	}
	// The lease passes: inc1's first delivery, still the oldest, is offered
	// again and its second is not.
	second := Claim(t, s, T0.Add(time.Minute+Lease), 10)
	if got := IDs(second); !cmp.Equal(got, IDs(first)) {
		t.Fatalf("after the lease claimed %v, want %v", got, IDs(first))
	}
	if err := s.Complete(ctx, second[0].Lease(), T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := Claim(t, s, T0.Add(time.Minute+2*Lease), 10)
	if diff := cmp.Diff([]string{"pager/inc1/" + Payload("inc1", "h2"), "pager/inc2/" + Payload("inc2", "h1")}, IDs(got)); diff != "" {
		t.Fatalf("after completing the first (-want +got):\n%s", diff)
	}
}

func testRetryHoldsBackTheIncident(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	ctx := context.Background()
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager"))
	MustIngest(t, s, NewIngest("inc1", "h2", T0, "pager"))
	MustIngest(t, s, NewIngest("inc1", "h2", T0, "pager", "chat"))
	d := Claim(t, s, T0, 1)[0]
	if err := s.Reschedule(ctx, d.Lease(), T0.Add(time.Hour), "upstream answered 503"); err != nil {
		t.Fatal(err)
	}
	if got := Claim(t, s, T0.Add(time.Minute), 10); len(got) != 0 {
		t.Fatalf("claimed %v while the incident's oldest delivery waits for its retry", IDs(got))
	}
}

func testLease(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager"))
	if got := Claim(t, s, T0, 10); len(got) != 1 {
		t.Fatalf("claimed %d, want 1", len(got))
	}
	if got := Claim(t, s, T0.Add(Lease-time.Millisecond), 10); len(got) != 0 {
		t.Fatalf("leased delivery claimed again before the lease passed: %v", IDs(got))
	}
	if got := Claim(t, s, T0.Add(Lease), 10); len(got) != 1 {
		t.Fatalf("claimed %d once the lease passed, want 1", len(got))
	}
}

func testClaimLimitOldestFirst(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	for i := range 5 {
		MustIngest(t, s, NewIngest(fmt.Sprintf("inc%d", i), "h", T0.Add(time.Duration(i)*time.Second), "pager"))
	}
	if diff := cmp.Diff([]string{"pager/inc0", "pager/inc1", "pager/inc2"}, Keys(Claim(t, s, T0.Add(time.Minute), 3))); diff != "" {
		t.Fatalf("claim (-want +got):\n%s", diff)
	}
	if got := Claim(t, s, T0.Add(time.Minute), 0); len(got) != 0 {
		t.Fatalf("claim with limit 0 returned %v", IDs(got))
	}
}

func testNotDueYet(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager"))
	if got := Claim(t, s, T0.Add(-time.Second), 10); len(got) != 0 {
		t.Fatalf("claimed %v before it was due", IDs(got))
	}
}

func testRescheduleBuryRequeue(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	ctx := context.Background()
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager", "chat"))
	MustIngest(t, s, NewIngest("inc2", "h1", T0.Add(time.Second), "pager"))
	ds := Claim(t, s, T0.Add(time.Second), 10)
	pager1, chat1, pager2 := ds[0], ds[1], ds[2]

	next := T0.Add(10 * time.Minute)
	if err := s.Reschedule(ctx, pager1.Lease(), next, "upstream answered 503 Service Unavailable"); err != nil {
		t.Fatal(err)
	}
	// The others' leases ran out: this claim takes them over.
	for _, d := range Claim(t, s, next.Add(-time.Millisecond), 10) {
		switch d.ID {
		case pager1.ID:
			t.Fatal("rescheduled delivery claimed before its time")
		case chat1.ID:
			chat1 = d
		case pager2.ID:
			pager2 = d
		}
	}
	got := Claim(t, s, next, 10)
	wantRetry := pager1
	wantRetry.Attempts, wantRetry.LastError, wantRetry.NextAttempt, wantRetry.Claim = 1, "upstream answered 503 Service Unavailable", next, 2
	if diff := cmp.Diff([]store.Delivery{wantRetry}, got); diff != "" {
		t.Fatalf("rescheduled delivery at its time (-want +got):\n%s", diff)
	}

	if err := s.Bury(ctx, chat1.Lease(), "upstream answered 400 Bad Request: invalid_payload"); err != nil {
		t.Fatal(err)
	}
	if err := s.Bury(ctx, pager2.Lease(), "gave up"); err != nil {
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
	if got := Claim(t, s, next.Add(time.Hour), 10); len(got) != 1 || got[0].ID != pager1.ID {
		t.Fatalf("claimed %v, want only the pending delivery, no dead letter", IDs(got))
	}

	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantStats := []store.ChannelStats{
		{Channel: "chat", Dead: 1},
		{Channel: "pager", Pending: 1, OldestPending: T0, Dead: 1},
	}
	if diff := cmp.Diff(wantStats, stats); diff != "" {
		t.Fatalf("stats (-want +got):\n%s", diff)
	}

	requeueAt := T0.Add(3 * time.Hour)
	if res, err := s.Requeue(ctx, requeueAt, chat1.ID); err != nil || !cmp.Equal(res, store.RequeueResult{Requeued: 1}) {
		t.Fatalf("requeue one: %+v, %v", res, err)
	}
	wantChat.NextAttempt, wantChat.RequeuedAt, wantChat.Claim, wantChat.TakenOver = requeueAt, requeueAt, wantChat.Claim+1, false
	var requeued []store.Delivery
	for _, d := range Claim(t, s, requeueAt, 10) {
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
		t.Fatalf("dead letters after requeue: %v, %v", IDs(dead), err)
	}
	if res, err := s.Requeue(ctx, requeueAt, pager1.ID); err != nil || !cmp.Equal(res, store.RequeueResult{}) {
		t.Fatalf("requeueing a pending delivery: %+v, %v, want nothing requeued", res, err)
	}

	const wantErr = "burying delivery 9999: no such pending delivery"
	if err := s.Bury(ctx, store.Lease{ID: 9999}, "no such row"); err == nil || err.Error() != wantErr {
		t.Fatalf("burying a missing delivery: %v, want %q", err, wantErr)
	}
	const wantErr2 = "rescheduling delivery 9999: no such pending delivery"
	if err := s.Reschedule(ctx, store.Lease{ID: 9999}, T0, "x"); err == nil || err.Error() != wantErr2 {
		t.Fatalf("rescheduling a missing delivery: %v, want %q", err, wantErr2)
	}
}

// testRequeueSkipsSuperseded: a dead trigger whose incident's later
// resolve was delivered on the same channel stays dead, even once the
// resolve's row is past the retention; on another channel, where nothing
// later was delivered, the dead letter is requeued.
func testRequeueSkipsSuperseded(t *testing.T, db Database) {
	clk := testkit.NewClock(T0)
	s := db.Open(t, Options{Retention: time.Hour, Now: clk.Now})
	ctx := context.Background()
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager", "chat"))
	resolved := NewIngest("inc1", "h2", T0, "pager", "chat")
	resolved.Status, resolved.Kind = "resolved", "resolve"
	MustIngest(t, s, resolved)

	triggers := Claim(t, s, T0, 10)
	pagerTrigger, chatTrigger := triggers[0], triggers[1]
	if err := s.Bury(ctx, pagerTrigger.Lease(), "rejected"); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, chatTrigger.Lease(), T0); err != nil {
		t.Fatal(err)
	}
	resolves := Claim(t, s, T0, 10) // the pager's resolve goes while its trigger lies dead
	if diff := cmp.Diff([]string{"pager/inc1/" + Payload("inc1", "h2"), "chat/inc1/" + Payload("inc1", "h2")}, IDs(resolves)); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	if err := s.Complete(ctx, resolves[0].Lease(), T0); err != nil {
		t.Fatal(err)
	}
	if err := s.Bury(ctx, resolves[1].Lease(), "rejected"); err != nil {
		t.Fatal(err)
	}

	res, err := s.Requeue(ctx, T0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(store.RequeueResult{Requeued: 1, Superseded: []int64{pagerTrigger.ID}}, res); diff != "" {
		t.Fatalf("requeue all (-want +got):\n%s", diff)
	}
	if got := IDs(Claim(t, s, T0.Add(Lease), 10)); !cmp.Equal(got, []string{"chat/inc1/" + Payload("inc1", "h2")}) {
		t.Fatalf("claimed %v after the requeue, want only the chat's resolve", got)
	}
	dead, err := s.DeadLetters(ctx)
	if err != nil || len(dead) != 1 || dead[0].ID != pagerTrigger.ID {
		t.Fatalf("dead letters after the requeue: %v, %v; want the pager's trigger", IDs(dead), err)
	}

	// The pruner keeps the delivered resolve that supersedes the dead
	// trigger, and deletes the chat's delivered trigger.
	prunedAt(t, db, s, clk, T0.Add(2*time.Hour))
	if r, _, _ := countRows(t, db); r != 3 {
		t.Fatalf("%d outbox rows after the retention, want 3: the dead trigger, the resolve that supersedes it, the chat's pending resolve", r)
	}
	res, err = s.Requeue(ctx, T0.Add(2*time.Hour), pagerTrigger.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(store.RequeueResult{Superseded: []int64{pagerTrigger.ID}}, res); diff != "" {
		t.Fatalf("requeue by id after the retention (-want +got):\n%s", diff)
	}
}

func testPostponeKeepsAttemptsAndError(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	ctx := context.Background()
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager"))
	d := Claim(t, s, T0, 1)[0]
	if err := s.Reschedule(ctx, d.Lease(), T0, "upstream answered 503"); err != nil {
		t.Fatal(err)
	}
	d = Claim(t, s, T0, 1)[0]
	if err := s.Postpone(ctx, d.Lease(), T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := Claim(t, s, T0.Add(time.Hour-time.Millisecond), 10); len(got) != 0 {
		t.Fatalf("postponed delivery claimed early: %v", IDs(got))
	}
	got := Claim(t, s, T0.Add(time.Hour), 10)
	if len(got) != 1 || got[0].Attempts != 1 || got[0].LastError != "upstream answered 503" {
		t.Fatalf("after postponing: %+v, want 1 attempt and the upstream's error kept", got)
	}
	if err := s.Postpone(ctx, store.Lease{ID: 9999}, T0); err == nil || err.Error() != "postponing delivery 9999: no such pending delivery" {
		t.Errorf("postponing a missing delivery: %v", err)
	}
}

// testClaimAlong: with one delivery held, ClaimAlong takes the channel's
// other due deliveries that Claim would offer one after another: the
// held incident's later ones, and each other incident's run up to a
// delivery that waits for a retry or is leased; oldest first, within the
// limit, and nothing of another channel.
func testClaimAlong(t *testing.T, db Database) {
	ctx := context.Background()
	s := db.Open(t, Options{})
	// c1 waits for a retry, d1 is leased by another worker.
	MustIngest(t, s, NewIngest("c", "c1", T0, "chat"))
	c1 := Claim(t, s, T0, 1)[0]
	if err := s.Reschedule(ctx, c1.Lease(), T0.Add(time.Hour), "upstream answered 503"); err != nil {
		t.Fatal(err)
	}
	MustIngest(t, s, NewIngest("d", "d1", T0, "chat"))
	Claim(t, s, T0, 1)
	for _, in := range []struct{ key, hash, channel string }{
		{"a", "a1", "chat"}, {"a", "a2", "chat"}, {"b", "b1", "chat"}, {"c", "c2", "chat"},
		{"d", "d2", "chat"}, {"a", "a3", "chat"}, {"b", "b2", "chat"}, {"p", "p1", "pager"},
	} {
		MustIngest(t, s, NewIngest(in.key, in.hash, T0, in.channel))
	}
	held := Claim(t, s, T0, 1)
	if diff := cmp.Diff([]string{`chat/a/{"incident":"a","state":"a1"}`}, IDs(held)); diff != "" {
		t.Fatalf("held (-want +got):\n%s", diff)
	}

	along, err := s.ClaimAlong(ctx, held[0], T0, Lease, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`chat/a/{"incident":"a","state":"a2"}`, `chat/b/{"incident":"b","state":"b1"}`, `chat/a/{"incident":"a","state":"a3"}`}
	if diff := cmp.Diff(want, IDs(along)); diff != "" {
		t.Errorf("first three along (-want +got):\n%s", diff)
	}
	// b2 waits behind b1, which the first call leased.
	along, err = s.ClaimAlong(ctx, held[0], T0, Lease, 10)
	if err != nil || len(along) != 0 {
		t.Errorf("a second call: %v, %v; want nothing", IDs(along), err)
	}
	if got := Claim(t, s, T0, 10); len(got) != 1 || got[0].Channel != "pager" {
		t.Errorf("Claim after ClaimAlong: %v, want only the pager delivery", IDs(got))
	}
}

// testSettle: Settle records each outcome for several deliveries at once,
// as the single-delivery calls do, and leaves alone those no longer
// pending.
func testSettle(t *testing.T, db Database) {
	ctx := context.Background()
	s := db.Open(t, Options{})
	for _, key := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		MustIngest(t, s, NewIngest(key, "1", T0, "chat"))
	}
	ds := Claim(t, s, T0, 8)
	id := func(i int) int64 { return ds[i].ID }
	for _, step := range []struct {
		leases []store.Lease
		s      store.Settlement
	}{
		{store.Leases(ds[0:2]), store.Settlement{Outcome: store.Done, At: T0}},
		{store.Leases(ds[2:4]), store.Settlement{Outcome: store.Retry, At: T0.Add(time.Hour), Error: "upstream answered 503"}},
		{store.Leases(ds[4:6]), store.Settlement{Outcome: store.Postponed, At: T0.Add(time.Minute)}},
		{store.Leases(ds[6:8]), store.Settlement{Outcome: store.Dead, Error: "upstream answered 400"}},
	} {
		if err := s.Settle(ctx, step.leases, step.s); err != nil {
			t.Fatalf("settle %+v: %v", step.s, err)
		}
	}
	if got := Claim(t, s, T0.Add(30*time.Second), 8); len(got) != 0 {
		t.Errorf("due before their time: %v", IDs(got))
	}
	got := Claim(t, s, T0.Add(time.Hour), 8)
	summary := map[int64]string{}
	again := map[int64]store.Lease{}
	for _, d := range got {
		summary[d.ID] = d.LastError + "/" + string(rune('0'+d.Attempts))
		again[d.ID] = d.Lease()
	}
	want := map[int64]string{id(2): "upstream answered 503/1", id(3): "upstream answered 503/1", id(4): "/0", id(5): "/0"}
	if diff := cmp.Diff(want, summary); diff != "" {
		t.Errorf("retried and postponed (-want +got):\n%s", diff)
	}
	dead, err := s.DeadLetters(ctx)
	if err != nil || len(dead) != 2 || dead[0].LastError != "upstream answered 400" || dead[0].Attempts != 1 {
		t.Errorf("dead letters: %+v, %v", dead, err)
	}

	err = s.Settle(ctx, []store.Lease{ds[0].Lease(), again[id(2)]}, store.Settlement{Outcome: store.Done, At: T0.Add(time.Hour)})
	if want := "settling deliveries: 1 of 2 are no longer pending or were taken over"; err == nil || err.Error() != want {
		t.Errorf("settling a done delivery with a pending one: %v, want %q", err, want)
	}
	if st, err := s.Stats(ctx); err != nil || st[0].Pending != 3 {
		t.Errorf("pending after that: %+v, %v; want 3 (the pending one recorded done)", st, err)
	}
}

// testClaimRun: with an incident's oldest delivery to a channel held,
// ClaimRun takes that incident's later deliveries to that channel that
// Claim would offer one after another, oldest first, within the limit:
// none of another channel or incident, and none past a delivery that
// waits for a retry or is leased.
func testClaimRun(t *testing.T, db Database) {
	ctx := context.Background()
	s := db.Open(t, Options{})
	for _, in := range []struct{ key, hash string }{
		{"a", "a1"}, {"b", "b1"}, {"a", "a2"}, {"a", "a3"}, {"b", "b2"}, {"a", "a4"}, {"a", "a5"},
	} {
		MustIngest(t, s, NewIngest(in.key, in.hash, T0, "pager", "chat"))
	}
	held := Claim(t, s, T0, 1)
	if diff := cmp.Diff([]string{`pager/a/{"incident":"a","state":"a1"}`}, IDs(held)); diff != "" {
		t.Fatalf("held (-want +got):\n%s", diff)
	}
	run, err := s.ClaimRun(ctx, held[0], T0, Lease, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`pager/a/{"incident":"a","state":"a2"}`, `pager/a/{"incident":"a","state":"a3"}`}
	if diff := cmp.Diff(want, IDs(run)); diff != "" {
		t.Errorf("the first two of the run (-want +got):\n%s", diff)
	}
	// a4 waits behind a3, which the first call leased.
	if more, err := s.ClaimRun(ctx, held[0], T0, Lease, 10); err != nil || len(more) != 0 {
		t.Errorf("a second call: %v, %v; want nothing", IDs(more), err)
	}
	// Handed back, a2 and a3 are taken again with what follows them.
	if err := s.Settle(ctx, store.Leases(run), store.Settlement{Outcome: store.Postponed, At: T0}); err != nil {
		t.Fatal(err)
	}
	run, err = s.ClaimRun(ctx, held[0], T0, Lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{`pager/a/{"incident":"a","state":"a2"}`, `pager/a/{"incident":"a","state":"a3"}`,
		`pager/a/{"incident":"a","state":"a4"}`, `pager/a/{"incident":"a","state":"a5"}`}
	if diff := cmp.Diff(want, IDs(run)); diff != "" {
		t.Errorf("after they were handed back (-want +got):\n%s", diff)
	}

	// b's second delivery waits for a retry: its third is not taken.
	MustIngest(t, s, NewIngest("b", "b3", T0, "pager", "chat"))
	var chatB store.Delivery
	for _, d := range Claim(t, s, T0, 10) {
		if d.Channel == "chat" && d.IncidentKey == "b" {
			chatB = d
		}
	}
	if chatB.ID == 0 {
		t.Fatal("chat/b not offered")
	}
	run, err = s.ClaimRun(ctx, chatB, T0, Lease, 1)
	if err != nil || len(run) != 1 || run[0].Channel != "chat" {
		t.Fatalf("chat/b's run: %v, %v; want chat/b/b2", IDs(run), err)
	}
	if err := s.Reschedule(ctx, run[0].Lease(), T0.Add(time.Hour), "upstream answered 503"); err != nil {
		t.Fatal(err)
	}
	if run, err := s.ClaimRun(ctx, chatB, T0, Lease, 10); err != nil || len(run) != 0 {
		t.Errorf("chat/b's run behind a retry: %v, %v; want nothing", IDs(run), err)
	}
}

// testSettleSuperseded: deliveries settled as superseded are done, with
// the note as their last error, and leave the incident's later
// deliveries to Claim; a dead letter before them counts as superseded.
func testSettleSuperseded(t *testing.T, db Database) {
	ctx := context.Background()
	s := db.Open(t, Options{})
	for _, hash := range []string{"1", "2", "3", "4"} {
		MustIngest(t, s, NewIngest("a", hash, T0, "pager"))
	}
	first := Claim(t, s, T0, 1)[0]
	if err := s.Bury(ctx, first.Lease(), "upstream answered 400"); err != nil {
		t.Fatal(err)
	}
	held := Claim(t, s, T0, 1)[0]
	run, err := s.ClaimRun(ctx, held, T0, Lease, 10)
	if err != nil || len(run) != 2 {
		t.Fatalf("run: %v, %v; want the last two", IDs(run), err)
	}
	note := fmt.Sprintf("superseded by delivery %d", run[1].ID)
	skipped := []store.Lease{held.Lease(), run[0].Lease()}
	if err := s.Settle(ctx, skipped, store.Settlement{Outcome: store.Superseded, At: T0, Error: note}); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, run[1].Lease(), T0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{note, note}, db.Rows(t).Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if st, err := s.Stats(ctx); err != nil || len(st) != 1 || st[0].Pending != 0 || st[0].Dead != 1 {
		t.Errorf("stats: %+v, %v; want nothing pending and the dead letter", st, err)
	}
	res, err := s.Requeue(ctx, T0)
	if err != nil || res.Requeued != 0 || !cmp.Equal(res.Superseded, []int64{first.ID}) {
		t.Errorf("requeue: %+v, %v; want the dead letter left dead, superseded", res, err)
	}
	err = s.Settle(ctx, skipped, store.Settlement{Outcome: store.Superseded, At: T0, Error: note})
	if want := "settling deliveries: 2 of 2 are no longer pending or were taken over"; err == nil || err.Error() != want {
		t.Errorf("superseding done deliveries: %v, want %q", err, want)
	}
}

func testRestart(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager", "chat"))
	MustIngest(t, s, NewIngest("inc2", "h1", T0, "pager"))
	d := Claim(t, s, T0, 1)[0]
	if err := s.Complete(context.Background(), d.Lease(), T0); err != nil {
		t.Fatal(err)
	}
	Claim(t, s, T0, 10) // leased when the process stops
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = db.Open(t, Options{})
	if got := Claim(t, s, T0.Add(Lease-time.Millisecond), 10); len(got) != 0 {
		t.Fatalf("claimed %v before the old process's leases passed", IDs(got))
	}
	got := Keys(Claim(t, s, T0.Add(Lease), 10))
	if diff := cmp.Diff([]string{"chat/inc1", "pager/inc2"}, got); diff != "" {
		t.Fatalf("pending after restart (-want +got):\n%s", diff)
	}
	if res := MustIngest(t, s, NewIngest("inc1", "h1", T0.Add(time.Hour), "pager")); !res.Duplicate {
		t.Fatal("state recorded before the restart not recognised after it")
	}
}

func testRetention(t *testing.T, db Database) {
	clk := testkit.NewClock(T0)
	s := db.Open(t, Options{Retention: time.Second, Now: clk.Now})
	ctx := context.Background()
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager"))
	MustIngest(t, s, NewIngest("inc2", "h1", T0, "pager"))
	resolved := NewIngest("inc3", "h1", T0, "pager")
	resolved.Status, resolved.Kind = "resolved", "resolve"
	MustIngest(t, s, resolved)
	ds := Claim(t, s, T0, 10)
	for _, i := range []int{0, 2} {
		if err := s.Complete(ctx, ds[i].Lease(), T0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Bury(ctx, ds[1].Lease(), "rejected"); err != nil {
		t.Fatal(err)
	}
	// Within the retention, nothing is pruned.
	prunedAt(t, db, s, clk, T0.Add(time.Second))
	if r, p, i := countRows(t, db); r != 3 || p != 3 || i != 3 {
		t.Fatalf("within the retention: %d outbox rows, %d payloads, %d incidents; want 3, 3, 3", r, p, i)
	}
	prunedAt(t, db, s, clk, T0.Add(time.Second+time.Nanosecond))
	// The firing incident stays, so that a repeat of its state is a
	// duplicate; the resolved one goes.
	if r, p, i := countRows(t, db); r != 1 || p != 1 || i != 2 {
		t.Fatalf("after the retention: %d outbox rows, %d payloads, %d incidents; want 1, 1, 2 (the dead letter, two firing incidents)", r, p, i)
	}
	if dead, err := s.DeadLetters(ctx); err != nil || len(dead) != 1 || string(dead[0].Payload) != Payload("inc2", "h1") {
		t.Fatalf("dead letter after the retention: %v, %v", IDs(dead), err)
	}
	if res := MustIngest(t, s, NewIngest("inc1", "h1", T0.Add(2*time.Hour), "pager")); !res.Duplicate {
		t.Fatal("the firing incident's state was forgotten")
	}
}

func testClosed(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Ingest(context.Background(), NewIngest("inc1", "h1", T0, "pager"))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ingest after Close: %v, want ErrUnavailable", err)
	}
}

func testIngestValidation(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	tests := []struct {
		name   string
		modify func(*store.Ingest)
		want   string
	}{
		{"no incident key", func(in *store.Ingest) { in.IncidentKey = "" }, "ingest: incident key is empty"},
		{"no state hash", func(in *store.Ingest) { in.StateHash = "" }, "ingest: state hash is empty"},
		{"no kind", func(in *store.Ingest) { in.Kind = "" }, "ingest: kind is empty"},
		{"no payload", func(in *store.Ingest) { in.Payload = nil }, "ingest: payload is empty"},
		{"no time", func(in *store.Ingest) { in.ReceivedAt = time.Time{} }, "ingest: received time is zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := NewIngest("inc1", "h1", T0, "pager")
			tt.modify(in)
			_, err := s.Ingest(context.Background(), in)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := s.Ingest(context.Background(), nil); err == nil || err.Error() != "ingest: nothing to record" {
		t.Fatalf("nil ingest: %v", err)
	}
}

// prunedAt sets the store's clock and has it prune.
func prunedAt(t *testing.T, db Database, s Store, c *testkit.Clock, now time.Time) {
	t.Helper()
	c.Set(now)
	db.Prune(t, s)
}

// countRows counts the outbox rows, payloads and incidents in the database.
func countRows(t *testing.T, db Database) (rows, payloads, incidents int) {
	t.Helper()
	n := db.Rows(t)
	return n.Outbox, n.Payloads, n.Incidents
}

func countNonces(t *testing.T, db Database) int {
	t.Helper()
	return db.Rows(t).Nonces
}

// testRetryNow: RetryNow makes a channel's deliveries waiting for a retry
// or a rate limit due now, keeping their attempts and errors, and leaves
// leased ones and other channels alone.
func testRetryNow(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	ctx := context.Background()
	for _, in := range []struct{ key, hash, channel string }{
		{"a", "a1", "chat"}, {"b", "b1", "chat"}, {"c", "c1", "chat"}, {"p", "p1", "pager"},
	} {
		MustIngest(t, s, NewIngest(in.key, in.hash, T0, in.channel))
	}
	for _, d := range Claim(t, s, T0, 4) {
		var err error
		switch d.IncidentKey {
		case "a", "p":
			err = s.Reschedule(ctx, d.Lease(), T0.Add(time.Hour), "upstream answered 503")
		case "b":
			err = s.Postpone(ctx, d.Lease(), T0.Add(10*time.Minute))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// c1 stays leased; a2 waits behind a1, d1 is due.
	MustIngest(t, s, NewIngest("a", "a2", T0, "chat"))
	MustIngest(t, s, NewIngest("d", "d1", T0, "chat"))

	now := T0.Add(time.Minute)
	n, err := s.RetryNow(ctx, "chat", now)
	if err != nil || n != 2 {
		t.Fatalf("RetryNow: %d, %v; want 2 (a1 and b1)", n, err)
	}
	got := Claim(t, s, now, 10)
	want := []string{`chat/a/{"incident":"a","state":"a1"}`, `chat/b/{"incident":"b","state":"b1"}`, `chat/d/{"incident":"d","state":"d1"}`}
	if diff := cmp.Diff(want, IDs(got)); diff != "" {
		t.Fatalf("claimed after RetryNow (-want +got):\n%s", diff)
	}
	if got[0].Attempts != 1 || got[0].LastError != "upstream answered 503" {
		t.Errorf("a1 after RetryNow: %+v, want its attempt and error kept", got[0])
	}
	if n, err := s.RetryNow(ctx, "chat", now); err != nil || n != 0 {
		t.Errorf("RetryNow again: %d, %v; want nothing left to make due", n, err)
	}
}

// testRenew: a renewed lease holds a delivery back until its new end; a
// delivery no longer pending is not renewed.
func testRenew(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	ctx := context.Background()
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager"))
	MustIngest(t, s, NewIngest("inc2", "h1", T0, "pager"))
	got, err := s.Claim(ctx, T0, 10*time.Second, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("claim: %v, %v", IDs(got), err)
	}
	if err := s.Complete(ctx, got[1].Lease(), T0); err != nil {
		t.Fatal(err)
	}
	n, err := s.Renew(ctx, store.Leases(got), T0.Add(30*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("Renew: %d, %v; want the pending one renewed", n, err)
	}
	if again := Claim(t, s, T0.Add(20*time.Second), 10); len(again) != 0 {
		t.Errorf("claimed at T0+20s, inside the renewed lease: %v", IDs(again))
	}
	if again := Claim(t, s, T0.Add(30*time.Second), 10); len(again) != 1 || again[0].ID != got[0].ID {
		t.Errorf("claimed at T0+30s, when the renewed lease ends: %v, want %d", IDs(again), got[0].ID)
	}
	if n, err := s.Renew(ctx, nil, T0); err != nil || n != 0 {
		t.Errorf("Renew of nothing: %d, %v", n, err)
	}
}

// testTakenOver: a claim that ran out is taken over by the next, which
// says so; the outcome of the old claim is refused with ErrTakenOver,
// and its renewal renews nothing, while the new claim's are recorded. A
// claim after an outcome was recorded is no takeover.
func testTakenOver(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	ctx := context.Background()
	MustIngest(t, s, NewIngest("inc1", "h1", T0, "pager"))
	first := Claim(t, s, T0, 10)
	if len(first) != 1 || first[0].Claim != 1 || first[0].TakenOver {
		t.Fatalf("first claim: %+v, want claim 1, no takeover", first)
	}
	second := Claim(t, s, T0.Add(Lease), 10)
	if len(second) != 1 || second[0].Claim != 2 || !second[0].TakenOver {
		t.Fatalf("claim after the lease ran out: %+v, want claim 2, a takeover", second)
	}
	old, cur := first[0].Lease(), second[0].Lease()
	err := s.Complete(ctx, old, T0.Add(Lease))
	if want := fmt.Sprintf("completing delivery %d: taken over by a later claim", old.ID); err == nil || err.Error() != want || !errors.Is(err, store.ErrTakenOver) {
		t.Errorf("completing the old claim: %v, want %q wrapping ErrTakenOver", err, want)
	}
	if err := s.Postpone(ctx, old, T0.Add(time.Hour)); !errors.Is(err, store.ErrTakenOver) {
		t.Errorf("postponing the old claim: %v, want ErrTakenOver", err)
	}
	if err := s.Settle(ctx, []store.Lease{old}, store.Settlement{Outcome: store.Retry, At: T0.Add(time.Hour)}); err == nil {
		t.Error("settling the old claim: no error")
	}
	if n, err := s.Renew(ctx, []store.Lease{old}, T0.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("renewing the old claim: %d, %v; want nothing renewed", n, err)
	}
	if n, err := s.Renew(ctx, []store.Lease{cur}, T0.Add(2*Lease)); err != nil || n != 1 {
		t.Errorf("renewing the new claim: %d, %v", n, err)
	}
	if err := s.Postpone(ctx, cur, T0.Add(2*Lease)); err != nil {
		t.Fatalf("postponing the new claim: %v", err)
	}
	third := Claim(t, s, T0.Add(2*Lease), 10)
	if len(third) != 1 || third[0].Claim != 3 || third[0].TakenOver {
		t.Fatalf("claim after a postponement: %+v, want claim 3, no takeover", third)
	}
	if err := s.Complete(ctx, third[0].Lease(), T0.Add(2*Lease)); err != nil {
		t.Errorf("completing the last claim: %v", err)
	}
	if err := s.Complete(ctx, third[0].Lease(), T0.Add(2*Lease)); err == nil || errors.Is(err, store.ErrTakenOver) {
		t.Errorf("completing it twice: %v, want no such pending delivery", err)
	}
}

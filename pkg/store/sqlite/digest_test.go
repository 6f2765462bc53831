package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// TestClaimAlong: with one delivery held, ClaimAlong takes the channel's
// other due deliveries that Claim would offer one after another: the
// held incident's later ones, and each other incident's run up to a
// delivery that waits for a retry or is leased; oldest first, within the
// limit, and nothing of another channel.
func TestClaimAlong(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", sqlite.Options{})
	// c1 waits for a retry, d1 is leased by another worker.
	mustIngest(t, s, newIngest("c", "c1", t0, "chat"))
	c1 := claim(t, s, t0, 1)[0]
	if err := s.Reschedule(ctx, c1.ID, t0.Add(time.Hour), "upstream answered 503"); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, s, newIngest("d", "d1", t0, "chat"))
	claim(t, s, t0, 1)
	for _, in := range []struct{ key, hash, channel string }{
		{"a", "a1", "chat"}, {"a", "a2", "chat"}, {"b", "b1", "chat"}, {"c", "c2", "chat"},
		{"d", "d2", "chat"}, {"a", "a3", "chat"}, {"b", "b2", "chat"}, {"p", "p1", "pager"},
	} {
		mustIngest(t, s, newIngest(in.key, in.hash, t0, in.channel))
	}
	held := claim(t, s, t0, 1)
	if diff := cmp.Diff([]string{`chat/a/{"incident":"a","state":"a1"}`}, ids(held)); diff != "" {
		t.Fatalf("held (-want +got):\n%s", diff)
	}

	along, err := s.ClaimAlong(ctx, held[0], t0, lease, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`chat/a/{"incident":"a","state":"a2"}`, `chat/b/{"incident":"b","state":"b1"}`, `chat/a/{"incident":"a","state":"a3"}`}
	if diff := cmp.Diff(want, ids(along)); diff != "" {
		t.Errorf("first three along (-want +got):\n%s", diff)
	}
	// b2 waits behind b1, which the first call leased.
	along, err = s.ClaimAlong(ctx, held[0], t0, lease, 10)
	if err != nil || len(along) != 0 {
		t.Errorf("a second call: %v, %v; want nothing", ids(along), err)
	}
	if got := claim(t, s, t0, 10); len(got) != 1 || got[0].Channel != "pager" {
		t.Errorf("Claim after ClaimAlong: %v, want only the pager delivery", ids(got))
	}
}

// TestSettle: Settle records each outcome for several deliveries at once,
// as the single-delivery calls do, and leaves alone those no longer
// pending.
func TestSettle(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", sqlite.Options{})
	for _, key := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		mustIngest(t, s, newIngest(key, "1", t0, "chat"))
	}
	ds := claim(t, s, t0, 8)
	id := func(i int) int64 { return ds[i].ID }
	for _, step := range []struct {
		ids []int64
		s   store.Settlement
	}{
		{[]int64{id(0), id(1)}, store.Settlement{Outcome: store.Done, At: t0}},
		{[]int64{id(2), id(3)}, store.Settlement{Outcome: store.Retry, At: t0.Add(time.Hour), Error: "upstream answered 503"}},
		{[]int64{id(4), id(5)}, store.Settlement{Outcome: store.Postponed, At: t0.Add(time.Minute)}},
		{[]int64{id(6), id(7)}, store.Settlement{Outcome: store.Dead, Error: "upstream answered 400"}},
	} {
		if err := s.Settle(ctx, step.ids, step.s); err != nil {
			t.Fatalf("settle %+v: %v", step.s, err)
		}
	}
	if got := claim(t, s, t0.Add(30*time.Second), 8); len(got) != 0 {
		t.Errorf("due before their time: %v", ids(got))
	}
	got := claim(t, s, t0.Add(time.Hour), 8)
	summary := map[int64]string{}
	for _, d := range got {
		summary[d.ID] = d.LastError + "/" + string(rune('0'+d.Attempts))
	}
	want := map[int64]string{id(2): "upstream answered 503/1", id(3): "upstream answered 503/1", id(4): "/0", id(5): "/0"}
	if diff := cmp.Diff(want, summary); diff != "" {
		t.Errorf("retried and postponed (-want +got):\n%s", diff)
	}
	dead, err := s.DeadLetters(ctx)
	if err != nil || len(dead) != 2 || dead[0].LastError != "upstream answered 400" || dead[0].Attempts != 1 {
		t.Errorf("dead letters: %+v, %v", dead, err)
	}

	err = s.Settle(ctx, []int64{id(0), id(2)}, store.Settlement{Outcome: store.Done, At: t0.Add(time.Hour)})
	if want := "settling deliveries: 1 of 2 are no longer pending"; err == nil || err.Error() != want {
		t.Errorf("settling a done delivery with a pending one: %v, want %q", err, want)
	}
	if st, err := s.Stats(ctx); err != nil || st[0].Pending != 3 {
		t.Errorf("pending after that: %+v, %v; want 3 (the pending one recorded done)", st, err)
	}
}

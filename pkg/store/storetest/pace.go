package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// RunPacer tests the store.Pacer of a driver whose store several
// receivers share, each test on a fresh database.
func RunPacer(t *testing.T, newDatabase func(t *testing.T) Database) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T, Database)
	}{
		{"Pace", testPace},
		{"PaceHold", testPaceHold},
		{"PaceAcrossStores", testPaceAcrossStores},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newDatabase(t)) })
	}
}

func pacer(t *testing.T, s Store) store.Pacer {
	t.Helper()
	p, ok := s.(store.Pacer)
	if !ok {
		t.Fatalf("%T is not a store.Pacer", s)
	}
	return p
}

// pace takes a turn of channel at now and fails t on an error.
func pace(t *testing.T, p store.Pacer, channel string, now time.Time, pc store.Pace) (time.Time, bool) {
	t.Helper()
	turn, ok, err := p.Pace(context.Background(), channel, now, pc)
	if err != nil {
		t.Fatalf("Pace(%s, +%s): %v", channel, now.Sub(T0), err)
	}
	return turn, ok
}

// testPace: the store paces as store.Turn decides, channel by channel,
// and keeps what it decided across a restart.
func testPace(t *testing.T, db Database) {
	p := pacer(t, db.Open(t, Options{}))
	pc := store.Pace{Every: time.Second, Burst: 2, Within: 5 * time.Second}
	var tat time.Time
	for i := range 8 {
		want, wantOK, next := store.Turn(tat, time.Time{}, T0, pc)
		got, ok := pace(t, p, "chat", T0, pc)
		if !got.Equal(want) || ok != wantOK {
			t.Fatalf("turn %d: +%s %v, want +%s %v", i, got.Sub(T0), ok, want.Sub(T0), wantOK)
		}
		tat = next
	}
	if turn, ok := pace(t, p, "other", T0, pc); !ok || !turn.Equal(T0) {
		t.Errorf("another channel's first turn: +%s %v, want now", turn.Sub(T0), ok)
	}
	reopened := pacer(t, db.Open(t, Options{}))
	if turn, ok := pace(t, reopened, "chat", T0, pc); ok || !turn.Equal(T0.Add(6*time.Second)) {
		t.Errorf("after a restart: +%s %v, want +6s refused", turn.Sub(T0), ok)
	}
}

// testPaceHold: a hold keeps every turn back until it ends; a shorter
// hold does not shorten it.
func testPaceHold(t *testing.T, db Database) {
	p := pacer(t, db.Open(t, Options{}))
	ctx := context.Background()
	pc := store.Pace{Within: 5 * time.Second}
	if err := p.Hold(ctx, "pager", T0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := p.Hold(ctx, "pager", T0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if turn, ok := pace(t, p, "pager", T0, pc); ok || !turn.Equal(T0.Add(30*time.Second)) {
		t.Errorf("held: +%s %v, want +30s refused", turn.Sub(T0), ok)
	}
	if turn, ok := pace(t, p, "pager", T0.Add(27*time.Second), pc); !ok || !turn.Equal(T0.Add(30*time.Second)) {
		t.Errorf("3s before the hold ends: +%s %v, want +30s taken", turn.Sub(T0), ok)
	}
	if turn, ok := pace(t, p, "chat", T0, pc); !ok || !turn.Equal(T0) {
		t.Errorf("another channel: +%s %v, want now", turn.Sub(T0), ok)
	}
}

// testPaceAcrossStores: stores on one database, taking turns of one
// channel at once, get each turn once: together they are paced as one.
func testPaceAcrossStores(t *testing.T, db Database) {
	const stores, each = 3, 20
	pc := store.Pace{Every: time.Second, Burst: 1, Within: time.Hour}
	turns := make(chan time.Time, stores*each)
	var wg sync.WaitGroup
	for range stores {
		p := pacer(t, db.Open(t, Options{}))
		wg.Go(func() {
			for range each {
				turn, ok, err := p.Pace(context.Background(), "chat", T0, pc)
				if err != nil || !ok {
					t.Errorf("Pace: %v, %v", ok, err)
					return
				}
				turns <- turn
			}
		})
	}
	wg.Wait()
	close(turns)
	seen := map[time.Duration]bool{}
	for turn := range turns {
		at := turn.Sub(T0)
		if seen[at] {
			t.Errorf("the turn at +%s was given twice", at)
		}
		seen[at] = true
	}
	for i := range stores * each {
		if at := time.Duration(i) * time.Second; !seen[at] {
			t.Errorf("no store got the turn at +%s", at)
		}
	}
}

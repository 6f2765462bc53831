package store_test

import (
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/store"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// TestTurnBurstThenEvery: after a quiet spell a channel takes Burst sends
// at once, then one every Every; a turn further than Within is not taken.
func TestTurnBurstThenEvery(t *testing.T) {
	p := store.Pace{Every: time.Second, Burst: 3, Within: 2 * time.Second}
	var tat time.Time
	var turns []time.Duration
	for range 6 {
		turn, ok, next := store.Turn(tat, time.Time{}, t0, p)
		if !ok {
			if want := 3 * time.Second; turn.Sub(t0) != want {
				t.Errorf("refused turn at +%s, want +%s", turn.Sub(t0), want)
			}
			if next != tat {
				t.Errorf("a refused turn moved tat from %s to %s", tat, next)
			}
			break
		}
		turns = append(turns, turn.Sub(t0))
		tat = next
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second}
	if len(turns) != len(want) {
		t.Fatalf("turns %v, want %v", turns, want)
	}
	for i := range want {
		if turns[i] != want[i] {
			t.Errorf("turns %v, want %v", turns, want)
			break
		}
	}
}

// TestTurnHeld: a hold pushes the turn back to its end, and a hold
// further than Within refuses it.
func TestTurnHeld(t *testing.T) {
	p := store.Pace{Every: time.Second, Burst: 1, Within: 5 * time.Second}
	turn, ok, next := store.Turn(time.Time{}, t0.Add(3*time.Second), t0, p)
	if !ok || !turn.Equal(t0.Add(3*time.Second)) || !next.Equal(t0.Add(4*time.Second)) {
		t.Errorf("held 3s: turn +%s ok %v next +%s; want +3s, true, +4s", turn.Sub(t0), ok, next.Sub(t0))
	}
	if turn, ok, _ := store.Turn(time.Time{}, t0.Add(time.Minute), t0, p); ok || !turn.Equal(t0.Add(time.Minute)) {
		t.Errorf("held a minute: turn +%s ok %v; want +1m0s, refused", turn.Sub(t0), ok)
	}
}

// TestTurnUnlimited: without Every every turn is now, unless held.
func TestTurnUnlimited(t *testing.T) {
	var tat time.Time
	for range 3 {
		turn, ok, next := store.Turn(tat, time.Time{}, t0, store.Pace{})
		if !ok || !turn.Equal(t0) {
			t.Fatalf("turn +%s ok %v, want now", turn.Sub(t0), ok)
		}
		tat = next
	}
}

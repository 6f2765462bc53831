package store

import (
	"context"
	"time"
)

// Pacer spaces each channel's sends across every receiver on one store,
// so that replicas together keep to an upstream's rate limit and all of
// them honour a Retry-After that one of them was given. A store that
// several processes share implements it; a receiver alone on its store
// paces its sends in memory.
type Pacer interface {
	// Pace takes channel's next turn at or after now, for sends paced by
	// p, and returns it. When that turn, or a hold on the channel, is
	// more than p.Within away it takes nothing, and returns the turn with
	// false.
	Pace(ctx context.Context, channel string, now time.Time, p Pace) (turn time.Time, ok bool, err error)
	// Hold keeps channel's turns back until until, unless it is held
	// longer already.
	Hold(ctx context.Context, channel string, until time.Time) error
}

// Pace is how a channel's sends are spaced: one every Every (zero: no
// limit), up to Burst at once after a quiet spell.
type Pace struct {
	Every time.Duration
	Burst int
	// Within is how far ahead a turn may be taken.
	Within time.Duration
}

// Turn is what Pace decides, the same way in every driver, from what the
// store records of a channel: tat, when its next send is due once the
// burst is spent (a generic cell rate algorithm's theoretical arrival
// time), and held, the end of its hold. It returns the turn at or after
// now, whether it is within p.Within, and the tat to record when it is.
func Turn(tat, held, now time.Time, p Pace) (turn time.Time, ok bool, next time.Time) {
	tat = later(tat, now)
	tolerance := time.Duration(max(p.Burst, 1)-1) * p.Every
	turn = later(later(tat.Add(-tolerance), now), held)
	if turn.Sub(now) > p.Within {
		return turn, false, tat
	}
	return turn, true, later(tat, turn).Add(p.Every)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

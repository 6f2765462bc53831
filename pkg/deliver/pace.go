package deliver

import (
	"context"
	"time"

	"golang.org/x/time/rate"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// pacer spaces one channel's sends: in memory for a receiver alone on its
// store, through the store for replicas that share it.
type pacer interface {
	// take takes the channel's next turn at or after now, unless it is
	// more than maxWait away: then it takes nothing, and returns the turn
	// with false.
	take(ctx context.Context, now time.Time) (turn time.Time, ok bool, err error)
	// hold keeps the channel's turns back until until.
	hold(ctx context.Context, until time.Time) error
}

// localPacer paces the sends of this process alone.
type localPacer struct{ limiter *rate.Limiter }

func newLocalPacer(l notify.Limit) *localPacer {
	limit := rate.Inf
	if l.Every > 0 {
		limit = rate.Every(l.Every)
	}
	return &localPacer{rate.NewLimiter(limit, max(l.Burst, 1))}
}

func (p *localPacer) take(_ context.Context, now time.Time) (time.Time, bool, error) {
	r := p.limiter.ReserveN(now, 1)
	turn := now.Add(max(r.DelayFrom(now), 0))
	if turn.Sub(now) > maxWait {
		r.CancelAt(now)
		return turn, false, nil
	}
	return turn, true, nil
}

// hold does nothing: the throttle keeps this process's holds itself.
func (p *localPacer) hold(context.Context, time.Time) error { return nil }

// sharedPacer paces the channel's sends across every receiver on the
// store.
type sharedPacer struct {
	store   store.Pacer
	channel string
	pace    store.Pace
}

func newSharedPacer(st store.Pacer, channel string, l notify.Limit) *sharedPacer {
	return &sharedPacer{st, channel, store.Pace{Every: l.Every, Burst: l.Burst, Within: maxWait}}
}

func (p *sharedPacer) take(ctx context.Context, now time.Time) (time.Time, bool, error) {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	return p.store.Pace(ctx, p.channel, now, p.pace)
}

func (p *sharedPacer) hold(ctx context.Context, until time.Time) error {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	return p.store.Hold(ctx, p.channel, until)
}

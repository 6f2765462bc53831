package deliver

import (
	"context"
	"slices"
	"sync"
	"time"
)

// leases are the deliveries this Deliverer has claimed and not yet
// recorded an outcome for. It renews their leases while it works on them,
// so that a lease can be short: when the process dies, its deliveries are
// taken over once their lease runs out, not after the longest an attempt
// could take.
type leases struct {
	mu  sync.Mutex
	ids map[int64]bool
}

func (l *leases) hold(ids ...int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids == nil {
		l.ids = map[int64]bool{}
	}
	for _, id := range ids {
		l.ids[id] = true
	}
}

func (l *leases) release(ids ...int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		delete(l.ids, id)
	}
}

func (l *leases) held() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]int64, 0, len(l.ids))
	for id := range l.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// renewEvery is how often, as a part of the lease, the leases held are
// renewed: three renewals fit in one lease, so that one failed renewal
// does not lose a lease.
const renewEvery = 3

// renew extends the leases of the deliveries held to a full lease every
// Lease/renewEvery until ctx ends. A failed renewal is logged; the next
// one tries again.
func (d *Deliverer) renew(ctx context.Context) {
	ticker := time.NewTicker(d.opts.Lease / renewEvery)
	defer ticker.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		ids := d.leases.held()
		if len(ids) == 0 {
			continue
		}
		sctx, cancel := storeContext(ctx)
		_, err := d.store.Renew(sctx, ids, d.opts.Now().Add(d.opts.Lease))
		cancel()
		if err != nil && ctx.Err() != nil {
			return
		}
		lastErr = d.logRenew(err, lastErr)
	}
}

// logRenew logs a failure to renew when it differs from the last one.
func (d *Deliverer) logRenew(err error, last string) string {
	switch {
	case err == nil:
		return ""
	case err.Error() != last:
		d.logger.Warn("renewing the leases of deliveries under way; another worker may take them over when they run out", "err", err)
	}
	return err.Error()
}

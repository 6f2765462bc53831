package deliver

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// held are the leases of the deliveries this Deliverer has claimed and
// not yet recorded an outcome for, by delivery. It renews them while it
// works on the deliveries, so that a lease can be short: when the process
// dies, its deliveries are taken over once their lease runs out, not
// after the longest an attempt could take.
type held struct {
	mu     sync.Mutex
	leases map[int64]store.Lease
}

func (h *held) hold(ls ...store.Lease) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.leases == nil {
		h.leases = map[int64]store.Lease{}
	}
	for _, l := range ls {
		h.leases[l.ID] = l
	}
}

func (h *held) release(ids ...int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		delete(h.leases, id)
	}
}

// all returns the leases held, by delivery ID.
func (h *held) all() []store.Lease {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]store.Lease, 0, len(h.leases))
	for _, l := range h.leases {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b store.Lease) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// count is how many leases are held.
func (h *held) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.leases)
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
		ls := d.leases.all()
		if len(ls) == 0 {
			continue
		}
		sctx, cancel := storeContext(ctx)
		_, err := d.store.Renew(sctx, ls, d.opts.Now().Add(d.opts.Lease))
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

package deliver

import (
	"cmp"
	"context"
	"log/slog"
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
	leases map[int64]heldLease
}

// heldLease is a lease held and when it runs out, as last recorded.
type heldLease struct {
	store.Lease
	until time.Time
}

// hold records leases that run out at until.
func (h *held) hold(until time.Time, ls ...store.Lease) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.leases == nil {
		h.leases = map[int64]heldLease{}
	}
	for _, l := range ls {
		h.leases[l.ID] = heldLease{l, until}
	}
}

// renewed records that the leases ls, if still held, run out at until.
func (h *held) renewed(until time.Time, ls ...store.Lease) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range ls {
		if cur, ok := h.leases[l.ID]; ok && cur.Lease == l {
			h.leases[l.ID] = heldLease{l, until}
		}
	}
}

// until is when the lease of the given delivery runs out, as recorded:
// zero when it is not held.
func (h *held) until(id int64) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.leases[id].until
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
		out = append(out, l.Lease)
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
		until := d.opts.Now().Add(d.opts.Lease)
		sctx, cancel := storeContext(ctx)
		n, err := d.store.Renew(sctx, ls, until)
		cancel()
		if err != nil && ctx.Err() != nil {
			return
		}
		if err == nil && n == len(ls) {
			// With fewer renewed, which ones is not known: those not
			// recorded are renewed again before they are sent.
			d.leases.renewed(until, ls...)
		}
		lastErr = d.logRenew(err, lastErr)
	}
}

// current reports whether this worker may still send batch: it renews
// now any of the batch's leases that the renewals have not kept (the
// process was stopped, or the store out of reach, for longer than a
// renewal's interval), and refuses the whole batch when one of them was
// taken over meanwhile, or ran out and cannot be renewed. The new claim
// sends it, in the incident's order; the rest of the batch goes back to
// the outbox. A lease that still has a third of its time left is sent
// without asking the store: no other worker can have it yet.
func (d *Deliverer) current(ctx context.Context, log *slog.Logger, batch []pending) bool {
	now := d.opts.Now()
	var stale []pending
	for _, p := range batch {
		if d.leases.until(p.del.ID).Sub(now) < d.opts.Lease/renewEvery {
			stale = append(stale, p)
		}
	}
	if len(stale) == 0 {
		return true
	}
	lost := d.renewNow(ctx, log, stale, now)
	if len(lost) == 0 {
		return true
	}
	d.metrics.lostLeases.Add(float64(len(lost)))
	log.Warn("a delivery's lease ran out before its send and was taken over, or cannot be renewed: not sending it; its new claim will", "lost", lost)
	d.handBack(ctx, log, without(batch, lost), d.opts.Now())
	return false
}

// renewNow renews the leases of batch, one at a time, and returns the
// deliveries whose lease is no longer this worker's: taken over, or run
// out by now with the store out of reach.
func (d *Deliverer) renewNow(ctx context.Context, log *slog.Logger, batch []pending, now time.Time) (lost []int64) {
	until := now.Add(d.opts.Lease)
	for _, p := range batch {
		sctx, cancel := storeContext(ctx)
		n, err := d.store.Renew(sctx, []store.Lease{p.del.Lease()}, until)
		cancel()
		switch {
		case err == nil && n == 1:
			d.leases.renewed(until, p.del.Lease())
		case err == nil, !d.leases.until(p.del.ID).After(now):
			lost = append(lost, p.del.ID)
		default:
			log.Warn("renewing a delivery's lease before its send; sending it, as the lease has not run out", "err", err)
		}
	}
	return lost
}

// without is batch less the deliveries of ids.
func without(batch []pending, ids []int64) []pending {
	var out []pending
	for _, p := range batch {
		if !slices.Contains(ids, p.del.ID) {
			out = append(out, p)
		}
	}
	return out
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

package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// A chat channel (its notifier a notify.Digester) that has several due
// deliveries when its rate limit lets a worker send gets one message,
// a digest, that covers them: what waits for a rate-limited channel goes
// out in fewer, longer messages rather than falling further behind. The
// deliveries a digest covers share its outcome: all done once it is
// accepted, all retried or all dead letters otherwise. A crash between
// the send and the record sends the digest again when the leases expire.

// pending is a claimed delivery with its notification.
type pending struct {
	del store.Delivery
	n   *notify.Notification
}

// claimAlong leases up to limit more due deliveries to held's channel
// and decodes them. One that does not decode is a dead letter, as in
// deliver. When claiming fails, held goes alone.
func (d *Deliverer) claimAlong(ctx context.Context, log *slog.Logger, held store.Delivery, limit int) []pending {
	if limit <= 0 {
		return nil
	}
	sctx, cancel := storeContext(ctx)
	defer cancel()
	now := d.opts.Now()
	dels, err := d.store.ClaimAlong(sctx, held, now, d.opts.Lease, limit)
	if err != nil {
		log.Warn("claiming deliveries to send in the same message; sending this one alone", "err", err)
		return nil
	}
	return d.decodeClaimed(ctx, dels, now)
}

// decodeClaimed holds the leases of more deliveries claimed at now for a
// send and decodes them. One that does not decode is a dead letter, as in
// deliver.
func (d *Deliverer) decodeClaimed(ctx context.Context, dels []store.Delivery, now time.Time) []pending {
	d.metrics.claimed(dels)
	d.leases.hold(now.Add(d.opts.Lease), store.Leases(dels)...)
	out := make([]pending, 0, len(dels))
	for _, del := range dels {
		n, err := d.notification(del)
		if err != nil {
			d.metrics.outcome(del, OutcomeFailed)
			dlog := d.deliveryLog(del)
			dlog.Error("stored payload does not decode: it is a dead letter", "err", err)
			d.bury(ctx, dlog, del, "payload does not decode: "+err.Error())
			d.leases.release(del.ID)
			continue
		}
		out = append(out, pending{del, n})
	}
	return out
}

// deliverDigest sends one message covering batch, or as much of it as
// the upstream's limits let one message hold, and records the outcome of
// the deliveries it covered. The rest go back to the outbox, due at once,
// for the channel's next turn.
func (d *Deliverer) deliverDigest(ctx context.Context, l *lane, dg notify.Digester, batch []pending, probe uint64) {
	log := d.logger.With("channel", batch[0].del.Channel, "kind", "digest")
	covered, err := d.attemptDigest(ctx, dg, batch)
	recovered := d.sent(ctx, log, l, err, probe)
	covered = min(max(covered, 1), len(batch))
	if rest := batch[covered:]; len(rest) > 0 {
		d.settle(ctx, log, rest, store.Settlement{Outcome: store.Postponed, At: d.opts.Now()})
	}
	batch = batch[:covered]
	d.recordDigest(ctx, log.With("deliveries", ids(batch)), batch, err, recovered)
}

// attemptDigest is attempt for a digest.
func (d *Deliverer) attemptDigest(ctx context.Context, dg notify.Digester, batch []pending) (int, error) {
	ctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), d.opts.Timeout,
		fmt.Errorf("delivery timeout of %s reached", d.opts.Timeout))
	defer cancel()
	ns := make([]*notify.Notification, len(batch))
	for i, p := range batch {
		ns[i] = p.n
	}
	covered, err := dg.NotifyDigest(ctx, ns)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	return covered, err
}

// recordDigest is record for the deliveries one digest covered: done; a
// dead letter when a retry cannot help, or for those tried for MaxAge;
// else a retry after the backoff or the upstream's Retry-After.
func (d *Deliverer) recordDigest(ctx context.Context, log *slog.Logger, batch []pending, err error, recovered bool) {
	now := d.opts.Now()
	if err == nil {
		for _, p := range batch {
			d.metrics.success(p.del, now)
		}
		d.metrics.digest(batch[0].del.Channel, len(batch))
		d.settle(ctx, log, batch, store.Settlement{Outcome: store.Done, At: now})
		log.Debug("delivered a digest")
		if recovered || slices.ContainsFunc(batch, func(p pending) bool { return p.del.Attempts > 0 }) {
			d.retryNow(ctx, log, batch[0].del.Channel)
		}
		d.Wake() // the incidents' next deliveries may be due
		return
	}
	retry, after, reason := notify.Classify(err)
	after = min(after, MaxRetryAfter)
	text := errorText(err)
	if !retry {
		d.failAll(batch)
		log.Error("digest failed and cannot succeed: its deliveries are dead letters", "reason", reason, "err", text)
		d.settle(ctx, log, batch, store.Settlement{Outcome: store.Dead, Error: text})
		return
	}
	var expired, again []pending
	attempts := 0
	for _, p := range batch {
		if now.Sub(triedSince(p.del)) >= d.opts.MaxAge {
			expired = append(expired, p)
			continue
		}
		again = append(again, p)
		attempts = max(attempts, p.del.Attempts+1)
	}
	if len(expired) > 0 {
		d.failAll(expired)
		log.Error("deliveries of a digest still failing after the maximum age: they are dead letters", "max_age", d.opts.MaxAge, "expired", ids(expired), "reason", reason, "err", text)
		d.settle(ctx, log, expired, store.Settlement{Outcome: store.Dead, Error: fmt.Sprintf("gave up after %s: %s", d.opts.MaxAge, text)})
	}
	if len(again) == 0 {
		return
	}
	for _, p := range again {
		d.metrics.retry(p.del)
	}
	next := now.Add(max(d.opts.Backoff.Delay(attempts), after))
	log.Warn("digest failed, will retry", "reason", reason, "retry_at", next, "attempts", attempts, "err", text)
	d.settle(ctx, log, again, store.Settlement{Outcome: store.Retry, At: next, Error: text})
}

func (d *Deliverer) failAll(batch []pending) {
	for _, p := range batch {
		d.metrics.outcome(p.del, OutcomeFailed)
	}
}

// settle records one outcome for the deliveries of batch, and reports
// whether it did. Recording them done or superseded is retried as
// complete is: the upstream has the message.
func (d *Deliverer) settle(ctx context.Context, log *slog.Logger, batch []pending, s store.Settlement) bool {
	tries := completeTries[:1]
	if s.Outcome == store.Done || s.Outcome == store.Superseded {
		tries = completeTries
	}
	var err error
	for _, wait := range tries {
		time.Sleep(wait)
		err = d.settleOnce(ctx, leases(batch), s)
		if err == nil || !errors.Is(err, store.ErrUnavailable) {
			break
		}
	}
	if err == nil {
		return true
	}
	log.Error("recording the outcome of deliveries; they are sent again when their leases expire", "err", err)
	return false
}

func (d *Deliverer) settleOnce(ctx context.Context, ls []store.Lease, s store.Settlement) error {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	return d.store.Settle(ctx, ls, s)
}

func leases(batch []pending) []store.Lease {
	out := make([]store.Lease, len(batch))
	for i, p := range batch {
		out[i] = p.del.Lease()
	}
	return out
}

func ids(batch []pending) []int64 {
	out := make([]int64, len(batch))
	for i, p := range batch {
		out[i] = p.del.ID
	}
	return out
}

package deliver

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// A channel whose notifier is a notify.LatestOnly (PagerDuty, Opsgenie)
// holds one state per incident upstream, which each message replaces.
// When its turn comes for a delivery and later deliveries of the same
// incident already wait behind it, the worker claims them too (the
// incident's run, store.ClaimRun) and sends one message: the first that
// notify.Latest picks, the latest trigger before any resolve. Once the
// upstream accepts it, the deliveries before the next pick that it did
// not send are superseded: recorded done, unsent, with "superseded by
// delivery N" as their last error, and counted in
// klaxon_receiver_notifications_superseded_total. The rest of the run goes
// back to the outbox, due at once, for the channel's next turn, which
// applies the rule again: each turn sends one message, in the incident's
// order. If the send fails, the skipped deliveries wait with it, until
// its retry or, for a dead letter, at once; nothing is superseded by a
// state the upstream did not take.

// maxRun is the most deliveries of one incident a worker claims for one
// send.
const maxRun = 100

// claimRun leases up to limit more due deliveries of held's incident to
// its channel, and decodes them. When claiming fails, held goes alone.
func (d *Deliverer) claimRun(ctx context.Context, log *slog.Logger, held store.Delivery, limit int) []pending {
	sctx, cancel := storeContext(ctx)
	defer cancel()
	now := d.opts.Now()
	dels, err := d.store.ClaimRun(sctx, held, now, d.opts.Lease, limit)
	if err != nil {
		log.Warn("claiming the incident's later deliveries, which could supersede this one; sending it alone", "err", err)
		return nil
	}
	return d.decodeClaimed(ctx, dels, now)
}

// deliverLatest sends the notification that notify.Latest picks first of
// batch, an incident's run oldest first, and records the outcomes of the
// run: the sent delivery's as any; the skipped ones before the next pick
// superseded by it, or handed back with it if it failed; the rest handed
// back, due now.
func (d *Deliverer) deliverLatest(ctx context.Context, l *lane, batch []pending, probe uint64) {
	sent, skipped, rest := splitRun(batch)
	log := d.deliveryLog(sent.del)
	if len(skipped) > 0 {
		log = log.With("skipped", ids(skipped))
	}
	err := d.attempt(ctx, l, sent.n)
	retryAt := d.record(ctx, log, sent.del, err, d.sent(ctx, log, l, err, probe))
	switch {
	case len(skipped) == 0:
	case err == nil:
		d.supersede(ctx, log, skipped, sent.del)
	case retryAt.IsZero():
		d.handBack(ctx, log, skipped, d.opts.Now()) // behind a dead letter
	default:
		d.handBack(ctx, log, skipped, retryAt)
	}
	if len(rest) > 0 {
		d.handBack(ctx, log, rest, d.opts.Now())
	}
	d.Wake() // the incident's next turn may be due
}

// splitRun splits an incident's run into the delivery to send, those
// it supersedes and those left for later turns.
func splitRun(batch []pending) (sent pending, skipped, rest []pending) {
	ns := make([]*notify.Notification, len(batch))
	for i, p := range batch {
		ns[i] = p.n
	}
	picks := notify.Latest(ns)
	end := len(batch)
	if len(picks) > 1 {
		end = picks[1]
	}
	for i, p := range batch[:end] {
		if i != picks[0] {
			skipped = append(skipped, p)
		}
	}
	return batch[picks[0]], skipped, batch[end:]
}

// supersede records the skipped deliveries done, as by, which the
// upstream accepted in their place. Recording is retried as complete's
// is: left pending, they would be sent once their leases expire, out of
// date.
func (d *Deliverer) supersede(ctx context.Context, log *slog.Logger, skipped []pending, by store.Delivery) {
	note := fmt.Sprintf("superseded by delivery %d", by.ID)
	if d.settle(ctx, log, skipped, store.Settlement{Outcome: store.Superseded, At: d.opts.Now(), Error: note}) {
		d.metrics.superseded.WithLabelValues(by.Channel).Add(float64(len(skipped)))
		log.Debug("delivered the incident's latest state in place of earlier ones")
	}
}

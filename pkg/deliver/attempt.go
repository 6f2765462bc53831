package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// Outcomes of a delivery attempt, the outcome label of
// klaxon_receiver_notifications_total.
const (
	OutcomeSuccess = "success"
	OutcomeRetry   = "retry"
	OutcomeFailed  = "failed"
)

// maxErrorText bounds the error text kept with a delivery.
const maxErrorText = 1024

// deliver makes one attempt at a claimed delivery and records its outcome.
func (d *Deliverer) deliver(ctx context.Context, del store.Delivery) {
	log := d.deliveryLog(del)
	l, ok := d.lane(del.Channel)
	if !ok {
		log.Error("delivery to a channel that is not configured: it is a dead letter")
		d.bury(ctx, log, del, fmt.Sprintf("channel %q is not configured", del.Channel))
		return
	}
	n, err := d.notification(del)
	if err != nil {
		d.metrics.outcome(del, OutcomeFailed)
		log.Error("stored payload does not decode: it is a dead letter", "err", err)
		d.bury(ctx, log, del, "payload does not decode: "+err.Error())
		return
	}
	wait, later, ok := l.reserve(d.opts.Now())
	if !ok {
		// The channel is held back, its rate limit is far off or another
		// worker waits for it: give the worker to other channels and
		// come back then.
		d.postpone(ctx, log, del, later)
		return
	}
	if wait > 0 {
		slept := sleep(ctx, wait)
		l.waited()
		if !slept {
			// Shutting down: hand the delivery back now, so that the
			// next start need not wait for the lease to expire.
			d.postpone(ctx, log, del, d.opts.Now())
			return
		}
	}
	if dg, ok := l.Notifier.(notify.Digester); ok {
		// The channel's turn has come: whatever else waits for it goes
		// in the same message.
		if along := d.claimAlong(ctx, log, del, dg.MaxDigest()-1); len(along) > 0 {
			d.deliverDigest(ctx, l, dg, append([]pending{{del, n}}, along...))
			return
		}
	}
	err = d.attempt(ctx, l, n)
	d.record(ctx, log, l, del, err)
}

func (d *Deliverer) deliveryLog(del store.Delivery) *slog.Logger {
	return d.logger.With("channel", del.Channel, "delivery", del.ID, "incident_key", del.IncidentKey, "kind", del.Kind)
}

// notification decodes a claimed delivery: the bare Alertmanager payload
// of a trigger or resolve row, the envelope of an escalate or acknowledged
// row.
func (d *Deliverer) notification(del store.Delivery) (*notify.Notification, error) {
	n := &notify.Notification{
		ID:          del.ID,
		Channel:     del.Channel,
		Route:       del.Route,
		IncidentKey: del.IncidentKey,
		Kind:        notify.Kind(del.Kind),
		CreatedAt:   del.CreatedAt,
	}
	env, err := notify.DecodeStored(n.Kind, del.Payload)
	if err != nil {
		return nil, err
	}
	n.Message, n.Mentions, n.Level = env.Message, env.Mentions, env.Level
	n.AckedBy, n.AckURL = env.AckedBy, env.AckURL
	if d.opts.Preparer != nil {
		d.opts.Preparer.Prepare(n)
	}
	return n, nil
}

// attempt sends n under the attempt timeout. An attempt under way when
// the workers stop is let finish, so that its outcome is recorded.
func (d *Deliverer) attempt(ctx context.Context, l *lane, n *notify.Notification) error {
	ctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), d.opts.Timeout,
		fmt.Errorf("delivery timeout of %s reached", d.opts.Timeout))
	defer cancel()
	err := l.Notifier.Notify(ctx, n)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	return err
}

// record stores the outcome of an attempt: done; a dead letter when a
// retry cannot help or the delivery has been tried for MaxAge (since it
// was accepted, or requeued if later); else a retry after the backoff or
// the upstream's Retry-After, whichever is longer.
func (d *Deliverer) record(ctx context.Context, log *slog.Logger, l *lane, del store.Delivery, err error) {
	now := d.opts.Now()
	if err == nil {
		d.metrics.success(del, now)
		d.complete(ctx, log, del, now)
		d.recovered(ctx, log, l, del.Channel, del.Attempts > 0)
		d.Wake() // the incident's next delivery may be due
		return
	}
	retry, after, reason := notify.Classify(err)
	// An upstream, or a proxy in front of it, may ask for an absurd wait;
	// holding a whole channel back for a day would hide its pages.
	after = min(after, MaxRetryAfter)
	text := errorText(err)
	switch {
	case !retry:
		d.metrics.outcome(del, OutcomeFailed)
		log.Error("delivery failed and cannot succeed: it is a dead letter", "reason", reason, "err", text)
		d.bury(ctx, log, del, text)
	case now.Sub(triedSince(del)) >= d.opts.MaxAge:
		d.metrics.outcome(del, OutcomeFailed)
		log.Error("delivery still failing after the maximum age: it is a dead letter", "max_age", d.opts.MaxAge, "attempts", del.Attempts+1, "reason", reason, "err", text)
		d.bury(ctx, log, del, fmt.Sprintf("gave up after %s: %s", d.opts.MaxAge, text))
	default:
		d.metrics.retry(del)
		l.failed()
		if after > 0 {
			l.hold(now.Add(after))
		}
		next := now.Add(max(d.opts.Backoff.Delay(del.Attempts+1), after))
		log.Warn("delivery failed, will retry", "reason", reason, "retry_at", next, "attempts", del.Attempts+1, "err", text)
		d.reschedule(ctx, log, del, next, text)
	}
}

// recovered follows a success on channel, l. When the channel had
// failed (an attempt of this Deliverer since the last success, or retried
// says the delivery had failed before, maybe on another replica), its
// deliveries waiting for a retry are made due now: the channel is back,
// and they need not sit out the rest of their backoff. The rate limit
// still paces them, and Claim keeps each incident's order. A channel that
// fails again puts them back to backoff, with one more attempt counted.
func (d *Deliverer) recovered(ctx context.Context, log *slog.Logger, l *lane, channel string, retried bool) {
	if !l.succeeded() && !retried {
		return
	}
	sctx, cancel := storeContext(ctx)
	defer cancel()
	n, err := d.store.RetryNow(sctx, channel, d.opts.Now())
	switch {
	case err != nil:
		log.Warn("making the channel's waiting deliveries due after a success; they wait for their retries", "err", err)
	case n > 0:
		log.Info("the channel delivers again: its deliveries waiting for a retry are due now", "deliveries", n)
	}
}

// triedSince is when del's retry window began: its acceptance, or its
// requeue from the dead letters, which gives it a full window again.
func triedSince(del store.Delivery) time.Time {
	if del.RequeuedAt.After(del.CreatedAt) {
		return del.RequeuedAt
	}
	return del.CreatedAt
}

// completeTries is how often recording a done delivery is tried: the
// upstream has the message, so a failure here would send it again once the
// lease expires.
var completeTries = []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond}

func (d *Deliverer) complete(ctx context.Context, log *slog.Logger, del store.Delivery, at time.Time) {
	var err error
	for _, wait := range completeTries {
		time.Sleep(wait)
		if err = d.completeOnce(ctx, del.ID, at); err == nil {
			log.Debug("delivered")
			return
		}
	}
	log.Error("recording a delivery as done; it may be sent again when its lease expires", "err", err)
}

func (d *Deliverer) completeOnce(ctx context.Context, id int64, at time.Time) error {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	return d.store.Complete(ctx, id, at)
}

func (d *Deliverer) reschedule(ctx context.Context, log *slog.Logger, del store.Delivery, next time.Time, why string) {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	if err := d.store.Reschedule(ctx, del.ID, next, why); err != nil {
		log.Error("rescheduling a delivery; it is retried when its lease expires", "err", err)
	}
}

func (d *Deliverer) postpone(ctx context.Context, log *slog.Logger, del store.Delivery, next time.Time) {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	if err := d.store.Postpone(ctx, del.ID, next); err != nil {
		log.Error("postponing a delivery for its channel's rate limit; it is retried when its lease expires", "err", err)
	}
}

func (d *Deliverer) bury(ctx context.Context, log *slog.Logger, del store.Delivery, reason string) {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	if err := d.store.Bury(ctx, del.ID, reason); err != nil {
		log.Error("recording a dead letter; it is retried when its lease expires", "err", err)
	}
}

// storeContext outlives the workers' context, so that an outcome is
// recorded during shutdown.
func storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}

// errorText is err's message for logs and the outbox, with any URL in it
// reduced to its scheme and host (webhook URLs carry tokens), and bounded.
func errorText(err error) string {
	text := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		var redacted *url.Error
		if errors.As(notify.RedactURL(ue), &redacted) {
			text = strings.ReplaceAll(text, ue.URL, redacted.URL)
		}
	}
	text, _ = notify.Truncate(text, maxErrorText)
	return text
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

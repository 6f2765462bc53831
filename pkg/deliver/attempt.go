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
	now := d.opts.Now()
	wait, later, ok, err := l.reserve(ctx, now)
	if err != nil {
		log.Warn("the channel's turn could not be taken; trying again shortly", "err", err)
	}
	if !ok {
		// The channel is held back, its rate limit is far off, another
		// worker waits for it or a probe is under way: give the worker
		// to other channels and come back then.
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
	d.send(ctx, log, l, pending{del, n}, now.Add(wait))
}

// send sends a delivery whose turn of the channel came at turn, with
// what else waits for a chat channel, unless a hold or a probe came
// first, and records the outcome.
func (d *Deliverer) send(ctx context.Context, log *slog.Logger, l *lane, p pending, turn time.Time) {
	batch := []pending{p}
	dg, digester := l.Notifier.(notify.Digester)
	_, latestOnly := l.Notifier.(notify.LatestOnly)
	switch {
	case digester:
		// The channel's turn has come: whatever else waits for it goes
		// in the same message.
		batch = append(batch, d.claimAlong(ctx, log, p.del, dg.MaxDigest()-1)...)
	case latestOnly:
		// What else of the incident waits for the channel may make
		// this state out of date: the latest goes in its place.
		batch = append(batch, d.claimRun(ctx, log, p.del, maxRun-1)...)
	}
	// Whatever the outcome, the deliveries claimed along are this
	// call's to let go of; the worker lets go of p.
	defer d.leases.release(ids(batch[1:])...)
	if !d.current(ctx, log, batch) {
		return
	}
	now := d.opts.Now()
	if turn.After(now) {
		now = turn // a clock that lags the wait, as a test's does
	}
	later, probe, ok := l.begin(now, d.opts.Timeout)
	if !ok {
		// The upstream asked for a hold, or another worker probes it,
		// since the turn was taken.
		d.handBack(ctx, log, batch, later)
		if probe != 0 && l.probeOver(probe) {
			// The probe ended while this was handed back, maybe
			// after its success made the channel's deliveries due.
			d.handBack(ctx, log, batch, d.opts.Now())
			d.Wake()
		}
		return
	}
	switch {
	case len(batch) > 1 && digester:
		d.deliverDigest(ctx, l, dg, batch, probe)
		return
	case len(batch) > 1:
		d.deliverLatest(ctx, l, batch, probe)
		return
	}
	err := d.attempt(ctx, l, p.n)
	d.record(ctx, log, p.del, err, d.sent(ctx, log, l, err, probe))
}

// sent tells the channel's throttle how a send ended, and reports whether
// the channel recovered; a hold the other replicas could not be told of
// is logged.
func (d *Deliverer) sent(ctx context.Context, log *slog.Logger, l *lane, err error, probe uint64) bool {
	recovered, holdErr := l.sent(ctx, d.opts.Now(), err, probe)
	if holdErr != nil {
		log.Warn("the upstream's Retry-After could not be shared with the other replicas", "err", holdErr)
	}
	return recovered
}

func (d *Deliverer) deliveryLog(del store.Delivery) *slog.Logger {
	return d.logger.With("channel", del.Channel, "delivery", del.ID, "incident", del.IncidentKey, "kind", del.Kind)
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
	n.AckedBy, n.AckURL, n.Redirects = env.AckedBy, env.AckURL, env.Redirects
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
// the upstream's Retry-After, whichever is longer. recovered is true
// when the channel's throttle saw a failure before this success. It
// returns when the delivery is tried again: zero once it is done or dead.
func (d *Deliverer) record(ctx context.Context, log *slog.Logger, del store.Delivery, err error, recovered bool) (retryAt time.Time) {
	now := d.opts.Now()
	if err == nil {
		d.metrics.success(del, now)
		d.complete(ctx, log, del, now)
		if recovered || del.Attempts > 0 {
			d.retryNow(ctx, log, del.Channel)
		}
		d.Wake() // the incident's next delivery may be due
		return time.Time{}
	}
	retry, after, reason := notify.Classify(err)
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
		next := now.Add(max(d.opts.Backoff.Delay(del.Attempts+1), after))
		log.Warn("delivery failed, will retry", "reason", reason, "retry_at", next, "attempts", del.Attempts+1, "err", text)
		d.reschedule(ctx, log, del, next, text)
		return next
	}
	return time.Time{}
}

// retryNow follows a success on a channel that had failed (an attempt
// of this Deliverer since its last success, or a delivery just sent had
// failed before, maybe on another replica): the channel's deliveries
// waiting for a retry are made due now, since the channel is back and
// they need not sit out the rest of their backoff. The rate limit still
// paces them, and Claim keeps each incident's order. If the channel fails
// again they go back to backoff, with one more attempt counted.
func (d *Deliverer) retryNow(ctx context.Context, log *slog.Logger, channel string) {
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
		if err = d.completeOnce(ctx, del.Lease(), at); err == nil {
			log.Debug("delivered")
			return
		}
		if errors.Is(err, store.ErrTakenOver) {
			break
		}
	}
	d.recordFailed(log, err, "recording a delivery as done; it may be sent again when its lease expires")
}

func (d *Deliverer) completeOnce(ctx context.Context, l store.Lease, at time.Time) error {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	return d.store.Complete(ctx, l, at)
}

// recordFailed logs a failure to record an outcome: as an error with
// what, unless another claim took the delivery over meanwhile, which
// records its own outcome.
func (d *Deliverer) recordFailed(log *slog.Logger, err error, what string) {
	if errors.Is(err, store.ErrTakenOver) {
		d.metrics.lostLeases.Inc()
		log.Warn("the delivery's lease ran out while this attempt was under way, and another claim took it over: this outcome is not recorded", "err", err)
		return
	}
	log.Error(what, "err", err)
}

func (d *Deliverer) reschedule(ctx context.Context, log *slog.Logger, del store.Delivery, next time.Time, why string) {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	if err := d.store.Reschedule(ctx, del.Lease(), next, why); err != nil {
		d.recordFailed(log, err, "rescheduling a delivery; it is retried when its lease expires")
	}
}

// handBack postpones the deliveries of batch until next.
func (d *Deliverer) handBack(ctx context.Context, log *slog.Logger, batch []pending, next time.Time) {
	switch len(batch) {
	case 0:
		return
	case 1:
		d.postpone(ctx, log, batch[0].del, next)
		return
	}
	d.settle(ctx, log, batch, store.Settlement{Outcome: store.Postponed, At: next})
}

func (d *Deliverer) postpone(ctx context.Context, log *slog.Logger, del store.Delivery, next time.Time) {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	if err := d.store.Postpone(ctx, del.Lease(), next); err != nil {
		d.recordFailed(log, err, "postponing a delivery for its channel's rate limit; it is retried when its lease expires")
	}
}

func (d *Deliverer) bury(ctx context.Context, log *slog.Logger, del store.Delivery, reason string) {
	ctx, cancel := storeContext(ctx)
	defer cancel()
	if err := d.store.Bury(ctx, del.Lease(), reason); err != nil {
		d.recordFailed(log, err, "recording a dead letter; it is retried when its lease expires")
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

// Package deliver runs klaxon-receiver's delivery workers: they lease due
// rows from the store's outbox, send each through its channel's notifier
// within the channel's rate limit, and record the outcome: done, a retry
// after a backoff (or the upstream's Retry-After), or a dead letter. A
// delivery is made at least once: if the process stops mid-way, the lease
// expires and the row is tried again.
package deliver

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// Channel is one configured channel.
type Channel struct {
	Notifier notify.Notifier
	// Limit is the upstream's rate limit for this channel; the zero value
	// is no limit.
	Limit notify.Limit
	// Integration is the integration's name in the registry
	// (pkg/notify/integrations), such as "slack".
	Integration string
}

// Preparer readies a notification at send time, with the config then in
// force: the incident package makes runbook links absolute and adds who is
// on call and the acknowledgement link.
type Preparer interface {
	Prepare(n *notify.Notification)
}

// Backoff is the wait between attempts: exponential with full jitter, a
// random wait between 0 and min(Max, Initial*Factor^(attempts-1)).
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Factor  float64
}

// Delay is the wait after the given number of failed attempts (1 after
// the first).
func (b Backoff) Delay(attempts int) time.Duration {
	ceiling := float64(b.Initial) * math.Pow(b.Factor, float64(max(attempts-1, 0)))
	if ceiling > float64(b.Max) || math.IsInf(ceiling, 0) || math.IsNaN(ceiling) {
		ceiling = float64(b.Max)
	}
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// Defaults of Options.
const (
	DefaultWorkers      = 4
	DefaultMaxAge       = 24 * time.Hour
	DefaultLease        = 15 * time.Second
	DefaultPollInterval = time.Second
	DefaultTimeout      = 30 * time.Second
)

// DefaultBackoff is the backoff when Options leave it unset.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 5 * time.Minute, Factor: 2}

// maxWait is the longest a worker waits for a channel's rate limit while
// holding a delivery; past it the delivery goes back to the outbox until
// the channel is free, and the worker takes other work.
const maxWait = 5 * time.Second

// MinLease is the shortest lease: renewed every third of it, a shorter
// one would cost a store write a few times a second per worker.
const MinLease = 3 * time.Second

// storeTimeout bounds each store call of a worker.
const storeTimeout = 30 * time.Second

// Options tune a Deliverer. Zero fields take the defaults.
type Options struct {
	// Workers is how many deliveries are made at once (default 4); never
	// more are leased.
	Workers int
	// MaxAge is how long a delivery that keeps failing with retryable
	// errors is tried, from its acceptance or, for a requeued dead letter,
	// from its requeue (default 24h); then it becomes a dead letter.
	MaxAge time.Duration
	// Backoff is the wait between attempts (default 1s, at most 5m,
	// factor 2); fields left zero take the default's.
	Backoff Backoff
	// Pacer, when set, paces each channel's sends across every receiver
	// on the store, and shares the holds that upstreams ask for; nil paces
	// this process's sends alone, right for a receiver alone on its store.
	Pacer store.Pacer
	// Lease is how long a claimed delivery is withheld from other workers
	// and replicas after its worker was last heard of (default 15s, at
	// least MinLease): the Deliverer renews the leases of the deliveries
	// under way every third of it, so a delivery whose process died is
	// taken over within one lease.
	Lease time.Duration
	// PollInterval is how often idle workers look at the outbox (default
	// 1s); Wake makes them look at once.
	PollInterval time.Duration
	// Timeout bounds each attempt (default 30s).
	Timeout time.Duration
	// Preparer, if set, readies each notification before it is sent.
	Preparer Preparer
	// Wake, if set, is the signal that deliveries were added (default:
	// the Deliverer's own, for Deliverer.Wake).
	Wake *Wake
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	set(&o.MaxAge, DefaultMaxAge)
	set(&o.Lease, DefaultLease)
	set(&o.PollInterval, DefaultPollInterval)
	set(&o.Timeout, DefaultTimeout)
	o.Lease = max(o.Lease, MinLease)
	set(&o.Backoff.Initial, DefaultBackoff.Initial)
	set(&o.Backoff.Max, DefaultBackoff.Max)
	if o.Backoff.Factor < 1 {
		o.Backoff.Factor = DefaultBackoff.Factor
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Wake == nil {
		o.Wake = NewWake()
	}
	return o
}

// MaxRetryAfter caps the wait an upstream's Retry-After can impose on a
// channel.
const MaxRetryAfter = time.Hour

// Deliverer runs the delivery workers.
type Deliverer struct {
	store   store.Store
	mu      sync.RWMutex
	lanes   map[string]*lane
	opts    Options
	logger  *slog.Logger
	metrics *metrics
	wake    *Wake
	leases  held
	// writable is whether the last claim was recorded.
	writable atomic.Bool
}

// New returns a Deliverer for the configured channels and registers its
// metrics with reg (nil: none). New may be called again with the same reg,
// after a configuration reload: the counters carry on.
func New(st store.Store, channels map[string]Channel, opts Options, reg prometheus.Registerer, logger *slog.Logger) *Deliverer {
	if logger == nil {
		logger = promslog.NewNopLogger()
	}
	d := &Deliverer{
		store:  st,
		lanes:  make(map[string]*lane, len(channels)),
		opts:   opts.withDefaults(),
		logger: logger,
	}
	d.wake = d.opts.Wake
	// The store was just opened, and its migrations written.
	d.writable.Store(true)
	names := make([]string, 0, len(channels))
	for name, ch := range channels {
		d.lanes[name] = newLane(name, ch, d.opts.Pacer)
		names = append(names, name)
	}
	d.metrics = newMetrics(reg, names, st, &d.leases, d.opts.Now, logger)
	return d
}

// SetChannels replaces the channels after a config reload. Attempts under
// way finish with the notifier they started with. A channel that keeps its
// name and limit keeps its throttle: its rate limiter and any hold its
// upstream asked for, before or after the reload; deliveries to a channel
// that is gone become dead letters.
func (d *Deliverer) SetChannels(channels map[string]Channel) {
	d.mu.Lock()
	defer d.mu.Unlock()
	lanes := make(map[string]*lane, len(channels))
	names := make([]string, 0, len(channels))
	for name, ch := range channels {
		lanes[name] = newLane(name, ch, d.opts.Pacer)
		if old, ok := d.lanes[name]; ok && old.Limit == ch.Limit {
			lanes[name].throttle = old.throttle
		}
		names = append(names, name)
	}
	d.lanes = lanes
	d.metrics.initialise(names)
}

func (d *Deliverer) lane(channel string) (*lane, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	l, ok := d.lanes[channel]
	return l, ok
}

// Wake makes idle workers look at the outbox now, rather than at the next
// poll. It does not block.
func (d *Deliverer) Wake() { d.wake.Wake() }

// Wake tells the workers that deliveries were added, so that they look at
// the outbox before their next poll. Made apart from the Deliverer, it can
// be given to what adds deliveries before the Deliverer exists.
type Wake struct{ ch chan struct{} }

// NewWake returns a Wake for Options.Wake.
func NewWake() *Wake { return &Wake{ch: make(chan struct{}, 1)} }

// Wake signals the workers. It does not block.
func (w *Wake) Wake() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. It then stops claiming and returns once the
// attempts under way have finished (each is bounded by Options.Timeout);
// deliveries still waiting for a rate limit are abandoned, and their
// leases expire.
func (d *Deliverer) Run(ctx context.Context) error {
	jobs := make(chan store.Delivery)
	idle := make(chan struct{}, d.opts.Workers)
	var wg sync.WaitGroup
	for range d.opts.Workers {
		idle <- struct{}{}
		wg.Go(func() {
			for del := range jobs {
				d.deliver(ctx, del)
				d.leases.release(del.ID)
				idle <- struct{}{}
			}
		})
	}
	renewCtx, stopRenewing := context.WithCancel(context.WithoutCancel(ctx))
	renewed := make(chan struct{})
	go func() { defer close(renewed); d.renew(renewCtx) }()
	d.dispatch(ctx, jobs, idle)
	close(jobs)
	wg.Wait()
	// The attempts under way when ctx ended have recorded their outcomes:
	// nothing is held any more.
	stopRenewing()
	<-renewed
	return nil
}

// dispatch claims as many deliveries as there are idle workers and hands
// them out, until ctx ends.
func (d *Deliverer) dispatch(ctx context.Context, jobs chan<- store.Delivery, idle chan struct{}) {
	ticker := time.NewTicker(d.opts.PollInterval)
	defer ticker.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle:
		}
		free := 1 + drain(idle)
		now := d.opts.Now()
		claimed, err := d.claim(ctx, now, free)
		if err != nil && ctx.Err() != nil {
			return // cut short by shutdown: not worth a log line
		}
		lastErr = d.logClaim(err, lastErr)
		d.metrics.claimed(claimed)
		for _, del := range claimed {
			d.leases.hold(now.Add(d.opts.Lease), del.Lease())
			jobs <- del
		}
		for range free - len(claimed) {
			idle <- struct{}{}
		}
		if len(claimed) == free {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake.ch:
		case <-ticker.C:
		}
	}
}

// claim claims up to limit deliveries due at now, timing the claim and noting
// whether the store took it: a claim is a write, made at least every
// poll, so its outcome tells whether the store is writable.
func (d *Deliverer) claim(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error) {
	start := time.Now()
	claimed, err := d.store.Claim(ctx, now, d.opts.Lease, limit)
	d.metrics.claimSeconds.Observe(time.Since(start).Seconds())
	d.writable.Store(err == nil)
	return claimed, err
}

// StoreWritable reports whether the last claim was recorded: false while
// the store is out of reach, read-only or full.
func (d *Deliverer) StoreWritable() bool { return d.writable.Load() }

func drain(ch chan struct{}) int {
	n := 0
	for {
		select {
		case <-ch:
			n++
		default:
			return n
		}
	}
}

// logClaim logs a failure to claim when it differs from the last one, and
// the recovery.
func (d *Deliverer) logClaim(err error, last string) string {
	switch {
	case err == nil && last != "":
		d.logger.Info("claiming deliveries works again")
		return ""
	case err == nil:
		return ""
	case err.Error() != last:
		d.logger.Error("claiming deliveries", "err", err)
	}
	return err.Error()
}

// lane is a channel with its rate limiter, shared by all workers.
type lane struct {
	Channel
	*throttle
}

// throttle is a channel's rate limiter and the hold its upstream asked
// for. A reload that keeps the channel keeps its throttle, so that a hold
// set by an attempt still running with the old config applies to the new.
type throttle struct {
	pacer pacer

	mu        sync.Mutex
	heldUntil time.Time
	// turn is when the worker waiting for the channel gets it; zero when
	// none waits.
	turn time.Time
	// failing is true when an attempt failed and might be retried since
	// the last success.
	failing bool
	// probing is true from a hold until a send succeeds: the channel then
	// takes one send at a time, a probe, so that workers do not send
	// together into an upstream that asked them to wait.
	probing bool
	// probeUntil is when the probe under way ends at the latest (its
	// attempt's timeout); zero when none is under way.
	probeUntil time.Time
	// probes numbers the probes, the last one begun.
	probes uint64
}

// newLane returns the channel named name with its throttle, which paces
// its sends through shared when it is set.
func newLane(name string, ch Channel, shared store.Pacer) *lane {
	var p pacer = newLocalPacer(ch.Limit)
	if shared != nil {
		p = newSharedPacer(shared, name, ch.Limit)
	}
	return &lane{Channel: ch, throttle: &throttle{pacer: p}}
}

// reserve takes a turn of the channel at now. It returns how long to wait
// for it or, when that is longer than maxWait or another worker already
// waits for this channel, false and when to come
// back: one worker at most waits for a channel, so that a rate-limited
// chat channel cannot hold every worker while pages for other channels
// are due. A caller told to wait calls waited afterwards; every caller
// calls begin before it sends. A pacer that fails (its store is
// unreachable) lets nothing through: the error says why, and later is a
// second away.
func (l *throttle) reserve(ctx context.Context, now time.Time) (wait time.Duration, later time.Time, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.heldUntil.Sub(now) > maxWait {
		return 0, l.heldUntil, false, nil
	}
	if l.turn.After(now) {
		// Come back at the waiting worker's turn, to go in its digest.
		return 0, l.turn, false, nil
	}
	turn, ok, err := l.pacer.take(ctx, now)
	if err != nil {
		return 0, now.Add(time.Second), false, fmt.Errorf("pacing the channel's sends: %w", err)
	}
	if !ok {
		return 0, turn, false, nil
	}
	wait = max(turn.Sub(now), l.heldUntil.Sub(now), 0)
	l.turn = now.Add(wait)
	return wait, time.Time{}, true, nil
}

// waited ends the wait reserve asked for.
func (l *throttle) waited() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.turn = time.Time{}
}

// begin is called at now, right before a send that reserve let through,
// for an attempt bounded by timeout. A hold set since (another worker's
// 429) refuses it, with when to come back. While the channel is probing,
// the send begin lets through is a probe and probe is its number, for
// sent; a send refused for a probe under way gets that probe's number,
// for probeOver.
func (l *throttle) begin(now time.Time, timeout time.Duration) (later time.Time, probe uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.heldUntil.After(now):
		return l.heldUntil, 0, false
	case !l.probing:
		return time.Time{}, 0, true
	case l.probeUntil.After(now):
		return l.probeUntil, l.probes, false
	}
	l.probes++
	l.probeUntil = now.Add(timeout)
	return time.Time{}, l.probes, true
}

// probeOver reports whether the given probe has ended.
func (l *throttle) probeOver(probe uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.probes != probe || l.probeUntil.IsZero()
}

// sent records the outcome err of a send at now, ending probe, the
// number begin gave it (0 for none). A success ends probing, and reports
// whether an attempt had failed since the last success; an upstream's
// Retry-After holds the channel back until then, here and through a
// shared pacer in every replica, and makes it probe.
func (l *throttle) sent(ctx context.Context, now time.Time, err error, probe uint64) (recovered bool, holdErr error) {
	recovered, until := l.record(now, err, probe)
	if !until.IsZero() {
		holdErr = l.pacer.hold(ctx, until)
	}
	return recovered, holdErr
}

// record is sent's part in memory; it returns the hold to share, if any.
func (l *throttle) record(now time.Time, err error, probe uint64) (recovered bool, hold time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if probe != 0 && probe == l.probes {
		l.probeUntil = time.Time{}
	}
	if err == nil {
		recovered = l.failing
		l.failing, l.probing = false, false
		return recovered, time.Time{}
	}
	retry, after, _ := notify.Classify(err)
	if !retry {
		return false, time.Time{}
	}
	l.failing = true
	// An upstream, or a proxy in front of it, may ask for an absurd wait;
	// holding a whole channel back for a day would hide its pages.
	if after = min(after, MaxRetryAfter); after > 0 {
		hold = now.Add(after)
		if hold.After(l.heldUntil) {
			l.heldUntil = hold
		}
		l.probing = true
	}
	return false, hold
}

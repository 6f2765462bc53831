package deliver

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// statsTimeout bounds the store query behind the outbox metrics.
const statsTimeout = 10 * time.Second

type metrics struct {
	notifications *prometheus.CounterVec
	retries       *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	digests       *prometheus.CounterVec
	coalesced     *prometheus.CounterVec
	superseded    *prometheus.CounterVec
	takeovers     *prometheus.CounterVec
	lostLeases    prometheus.Counter
	claimSeconds  prometheus.Histogram
	outbox        *outboxCollector
}

func newMetrics(reg prometheus.Registerer, channels []string, st store.Store, leases *held, now func() time.Time, logger *slog.Logger) *metrics {
	m := &metrics{
		takeovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_receiver_takeovers_total",
			Help: "Deliveries this receiver claimed after an earlier claim's lease ran out with no outcome recorded: a replica died, hung or lost the store, or this one restarted.",
		}, []string{"channel"}),
		claimSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "klaxon_receiver_store_claim_duration_seconds",
			Help:    "Time the store took to claim due deliveries: one write at least every poll, so its latency is the store's.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		lostLeases: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "klaxon_receiver_leases_lost_total",
			Help: "Attempts whose outcome was not recorded because the delivery's lease ran out meanwhile and another claim took it over.",
		}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_receiver_notifications_total",
			Help: "Delivery attempts by channel, kind and outcome (success, retry, failed: a dead letter).",
		}, []string{"channel", "kind", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_receiver_retries_total",
			Help: "Failed delivery attempts that will be retried.",
		}, []string{"channel"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "klaxon_receiver_delivery_latency_seconds",
			Help:    "Time from accepting a notification to delivering it.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"channel"}),
		digests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_receiver_digests_total",
			Help: "Digests delivered: messages that each covered several notifications waiting for a rate-limited chat channel.",
		}, []string{"channel"}),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_receiver_notifications_coalesced_total",
			Help: "Notifications delivered in a digest rather than in a message of their own.",
		}, []string{"channel"}),
		superseded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_receiver_notifications_superseded_total",
			Help: "Notifications not sent because a later state of their incident was delivered to the channel in their place (PagerDuty, Opsgenie).",
		}, []string{"channel"}),
	}
	outbox := &outboxCollector{store: st, now: now, logger: logger}
	if reg != nil {
		m.notifications = register(reg, m.notifications)
		m.retries = register(reg, m.retries)
		m.latency = register(reg, m.latency)
		m.digests = register(reg, m.digests)
		m.coalesced = register(reg, m.coalesced)
		m.superseded = register(reg, m.superseded)
		m.takeovers = register(reg, m.takeovers)
		m.lostLeases = register(reg, m.lostLeases)
		m.claimSeconds = register(reg, m.claimSeconds)
		// Like the outbox collector, the gauge reads this Deliverer.
		leased := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "klaxon_receiver_leases_held",
			Help: "Deliveries this receiver has claimed and not yet recorded an outcome for: attempts under way or waiting for their channel.",
		}, func() float64 { return float64(leases.count()) })
		reg.Unregister(leased)
		reg.MustRegister(leased)
		// The outbox collector holds this Deliverer's store and channels:
		// it replaces one registered before a reload.
		reg.Unregister(outbox)
		reg.MustRegister(outbox)
	}
	m.outbox = outbox
	m.initialise(channels)
	return m
}

// initialise creates every channel's series at 0, so that rate() and
// increase() see the first failure.
func (m *metrics) initialise(channels []string) {
	for _, ch := range channels {
		for _, kind := range []notify.Kind{notify.KindTrigger, notify.KindResolve} {
			for _, outcome := range []string{OutcomeSuccess, OutcomeRetry, OutcomeFailed} {
				m.notifications.WithLabelValues(ch, string(kind), outcome)
			}
		}
		m.retries.WithLabelValues(ch)
		m.latency.WithLabelValues(ch)
		m.digests.WithLabelValues(ch)
		m.coalesced.WithLabelValues(ch)
		m.superseded.WithLabelValues(ch)
		m.takeovers.WithLabelValues(ch)
	}
	m.outbox.setChannels(channels)
}

// register registers c, or returns the collector registered before it with
// the same metrics, so that counters carry on across reloads.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		panic(err)
	}
	return c
}

// claimed counts the takeovers among claimed deliveries.
func (m *metrics) claimed(ds []store.Delivery) {
	for _, d := range ds {
		if d.TakenOver {
			m.takeovers.WithLabelValues(d.Channel).Inc()
		}
	}
}

func (m *metrics) outcome(del store.Delivery, outcome string) {
	m.notifications.WithLabelValues(del.Channel, del.Kind, outcome).Inc()
}

func (m *metrics) success(del store.Delivery, now time.Time) {
	m.outcome(del, OutcomeSuccess)
	m.latency.WithLabelValues(del.Channel).Observe(now.Sub(del.CreatedAt).Seconds())
}

// digest counts a delivered digest of n notifications.
func (m *metrics) digest(channel string, n int) {
	m.digests.WithLabelValues(channel).Inc()
	m.coalesced.WithLabelValues(channel).Add(float64(n))
}

func (m *metrics) retry(del store.Delivery) {
	m.outcome(del, OutcomeRetry)
	m.retries.WithLabelValues(del.Channel).Inc()
}

var (
	pendingDesc = prometheus.NewDesc("klaxon_receiver_outbox_pending",
		"Deliveries waiting in the outbox, due or waiting for a retry.", []string{"channel"}, nil)
	oldestDesc = prometheus.NewDesc("klaxon_receiver_outbox_oldest_pending_age_seconds",
		"Age of the oldest pending delivery since it was accepted; 0 when none is pending.", []string{"channel"}, nil)
	deadDesc = prometheus.NewDesc("klaxon_receiver_dead_letters",
		"Deliveries given up on, kept until requeued.", []string{"channel"}, nil)
)

// outboxCollector reads the outbox at scrape time. Every configured
// channel is reported, with zeros when it has nothing pending.
type outboxCollector struct {
	store  store.Store
	now    func() time.Time
	logger *slog.Logger

	mu       sync.Mutex
	channels []string
}

func (c *outboxCollector) setChannels(names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.channels = names
}

func (c *outboxCollector) configured() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.channels
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- oldestDesc
	ch <- deadDesc
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	stats, err := c.store.Stats(ctx)
	if err != nil {
		c.logger.Error("reading outbox stats", "err", err)
		ch <- prometheus.NewInvalidMetric(pendingDesc, err)
		return
	}
	names := c.configured()
	byChannel := make(map[string]store.ChannelStats, len(names))
	for _, name := range names {
		byChannel[name] = store.ChannelStats{Channel: name}
	}
	for _, st := range stats {
		byChannel[st.Channel] = st
	}
	now := c.now()
	for name, st := range byChannel {
		age := 0.0
		if !st.OldestPending.IsZero() {
			age = max(now.Sub(st.OldestPending).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(st.Pending), name)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, name)
		ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(st.Dead), name)
	}
}

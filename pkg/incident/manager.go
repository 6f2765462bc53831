// Package incident is the incident lifecycle of klaxon-receiver: it
// records each notification from Alertmanager into its incident, with the
// incident's escalation in the same transaction, pages the next level when
// a timer is due, takes acknowledgements and resolutions, readies each
// message at send time, and answers the queries of the API, the status
// page, the CLI and the metrics. The escalation state machine itself is
// pkg/escalation's; who is on call is pkg/oncall's.
package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// Escalation timer.
const (
	// EscalationTick is how often Run looks for escalations
	// whose timer is due.
	EscalationTick = time.Second
	// escalationBatch is how many due escalations one tick claims.
	escalationBatch = 100
)

// Store is the durable state the incidents live in.
type Store interface {
	Ingest(ctx context.Context, in *store.Ingest) (store.IngestResult, error)
	store.Escalations
}

// Current gives the config in force, which a reload replaces whole.
type Current interface {
	Get() *receiverconfig.Runtime
}

// Waker is told that deliveries were added to the outbox.
type Waker interface {
	Wake()
}

// Manager runs the incidents' lifecycle: it starts, refreshes and
// resolves them from the webhook's notifications, pages the next level
// when a timer is due, and records acknowledgements. Every change is
// stored with its outbox rows in one transaction.
type Manager struct {
	current Current
	store   Store
	// deliverer is told that deliveries were added.
	deliverer Waker
	kick      chan struct{}
	timeToAck *prometheus.HistogramVec
	// ackRoutes keeps timeToAck's series at 0 for the routes with an
	// escalation policy.
	ackRoutes *receiverconfig.RouteSeries
	logger    *slog.Logger
}

// New returns the manager of the incidents in st. current is asked for
// the config in force, whose Now is the incidents' clock; deliverer is
// woken after deliveries were added.
func New(st Store, current Current, deliverer Waker, reg prometheus.Registerer, logger *slog.Logger) (*Manager, error) {
	m := &Manager{
		current: current, store: st, deliverer: deliverer, kick: make(chan struct{}, 1), logger: logger,
		timeToAck: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "klaxon_receiver_time_to_acknowledge_seconds",
			Help:    "Time from an incident's start to its first acknowledgement, by route.",
			Buckets: []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400},
		}, []string{"route"}),
	}
	m.ackRoutes = receiverconfig.NewRouteSeries(m.timeToAck.MetricVec)
	m.SetRoutes(current.Get().Config)
	for _, c := range []prometheus.Collector{m.timeToAck, &incidentCollector{manager: m}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the incident metrics: %w", err)
		}
	}
	return m, nil
}

// SetRoutes starts the time to acknowledge of cfg's routes with an
// escalation policy at 0 and drops that of the others; call it after a
// reload.
func (m *Manager) SetRoutes(cfg *receiverconfig.Config) { m.ackRoutes.Set(cfg.EscalatedRouteNames()) }

// Run ticks every EscalationTick, and when woken, until ctx is done. A
// failed tick is tried again at the next one; its error is logged when it
// differs from the last tick's, and the recovery once it is over.
func (m *Manager) Run(ctx context.Context) error {
	ticker := time.NewTicker(EscalationTick)
	defer ticker.Stop()
	var last string
	for {
		if err := m.Tick(ctx); ctx.Err() == nil {
			last = m.logTick(err, last)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-m.kick:
		}
	}
}

// logTick logs a failed tick when its error differs from last, the last
// tick's ("" when it worked), and the first tick that works after one
// that failed. It returns the error to compare the next tick's with.
func (m *Manager) logTick(err error, last string) string {
	switch {
	case err == nil && last != "":
		m.logger.Info("escalation ticks work again")
		return ""
	case err == nil:
		return ""
	case err.Error() != last:
		m.logger.Error("escalation tick failed; trying again at each tick", "err", err)
	}
	return err.Error()
}

// Wake makes Run tick now.
func (m *Manager) Wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Tick sends every page due by the config's clock: it claims the due
// escalations and applies Tick to each. A claim is held for the config's
// storage.takeover_after, after which another replica takes over an
// escalation this one did not record; recording the tick applies it to
// the latest state, so a page due once is sent once even then.
func (m *Manager) Tick(ctx context.Context) error {
	rt := m.current.Get()
	now := rt.Now()
	due, err := m.store.ClaimDueEscalations(ctx, now, rt.Config.Storage.TakeoverAfter, escalationBatch)
	if err != nil {
		return fmt.Errorf("claiming due escalations: %w", err)
	}
	var errs []error
	added := false
	for _, d := range due {
		n, err := m.update(ctx, d.IncidentKey, escalation.Tick{}, now)
		if err != nil {
			errs = append(errs, err)
		}
		added = added || n > 0
	}
	if added {
		m.deliverer.Wake()
	}
	return errors.Join(errs...)
}

// Acknowledgement is what an acknowledgement did.
type Acknowledgement struct {
	// Incident is the incident's key.
	Incident string
	// By and At are who acknowledged the incident and when: this
	// acknowledgement, or the earlier one.
	By string
	At time.Time
	// Already is true when the incident was acknowledged before, by By
	// at At: nothing changed.
	Already bool
}

// Acknowledge stops the escalation of the incident id names (its key or
// a prefix, see findIncident) on behalf of by and tells the route's chat
// channels. An incident acknowledged before stays as it is, and the
// result says by whom. It returns an error wrapping ErrNotFound for
// an unknown or resolved incident, ErrBadID or ErrAmbiguousID.
func (m *Manager) Acknowledge(ctx context.Context, id, by string) (Acknowledgement, error) {
	key, err := findIncident(ctx, m.store, id)
	if err != nil {
		return Acknowledgement{}, err
	}
	var started time.Time
	var route string
	now := m.current.Get().Now()
	res := Acknowledgement{Incident: key, By: by, At: now}
	n, err := m.updateWith(ctx, key, escalation.Ack{By: by}, now, func(cur *store.Escalation, s escalation.State, pages []escalation.Page) {
		res.By, res.At, res.Already = s.AckedBy, s.AckedAt, len(pages) == 0
		if len(pages) > 0 {
			started, route = s.Started, cur.Route
		}
	})
	if err != nil {
		return Acknowledgement{}, err
	}
	if !started.IsZero() {
		m.timeToAck.WithLabelValues(route).Observe(now.Sub(started).Seconds())
		m.logger.Info("incident acknowledged", "incident", key, "route", route, "by", by)
	}
	if n > 0 {
		m.deliverer.Wake()
	}
	return res, nil
}

// Resolve ends the escalation of the incident id names (its key or a
// prefix) by hand: nobody is paged for it any more. The alerts stay as
// Alertmanager has them. It returns the incident's key, and an error
// wrapping ErrNotFound for an unknown or resolved incident,
// ErrBadID or ErrAmbiguousID.
func (m *Manager) Resolve(ctx context.Context, id, by string) (string, error) {
	key, err := findIncident(ctx, m.store, id)
	if err != nil {
		return "", err
	}
	if _, err := m.update(ctx, key, escalation.Resolve{}, m.current.Get().Now()); err != nil {
		return "", err
	}
	m.logger.Info("escalation resolved by hand", "incident", key, "by", by)
	return key, nil
}

// update applies event to the incident's escalation at now and returns
// how many deliveries it added.
func (m *Manager) update(ctx context.Context, key string, event escalation.Event, now time.Time) (int, error) {
	return m.updateWith(ctx, key, event, now, nil)
}

// updateWith is update that also shows the new state and pages to seen,
// in the transaction.
func (m *Manager) updateWith(ctx context.Context, key string, event escalation.Event, now time.Time,
	seen func(*store.Escalation, escalation.State, []escalation.Page)) (int, error) {
	rt := m.current.Get()
	added := 0
	err := m.store.UpdateEscalation(ctx, key, func(cur *store.Escalation) (*store.EscalationChange, error) {
		_, isTick := event.(escalation.Tick)
		if cur == nil {
			if isTick {
				return nil, nil
			}
			return nil, fmt.Errorf("incident %s: %w", key, ErrNotFound)
		}
		s, p, err := escalationOf(rt, cur)
		if err != nil {
			return nil, err
		}
		if p == nil {
			m.logger.Warn("escalation policy no longer in the config; escalation stopped", "incident", key, "policy", cur.Policy)
			return &store.EscalationChange{State: cur.State}, nil
		}
		if s.Resolved {
			return nil, fmt.Errorf("incident %s: %w", key, ErrNotFound)
		}
		next, pages := s.On(event, p, now)
		var msg *alert.Message
		if len(pages) > 0 {
			// Only a page needs the alerts: a tick that pages nobody
			// leaves the payload as it is.
			if msg, err = alert.Decode(bytes.NewReader(cur.Payload)); err != nil {
				return nil, fmt.Errorf("incident %s: decoding its payload: %w", key, err)
			}
		}
		change, err := escalationChange(rt, m.logger, cur.Route, msg, next, pages)
		if err == nil && seen != nil {
			seen(cur, next, pages)
		}
		if change != nil {
			added = len(change.Deliveries)
		}
		return change, err
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// escalationOf decodes a stored escalation's state and finds its policy;
// the policy is nil when the config no longer has it.
func escalationOf(rt *receiverconfig.Runtime, cur *store.Escalation) (escalation.State, *escalation.Policy, error) {
	var s escalation.State
	if err := json.Unmarshal(cur.State, &s); err != nil {
		return s, nil, fmt.Errorf("incident %s: decoding its escalation state: %w", cur.IncidentKey, err)
	}
	p, ok := rt.Config.EscalationPolicies.Get(s.Policy)
	if !ok {
		return s, nil, nil
	}
	return s, p, nil
}

// escalationChange records s, with its timer, and one delivery per page
// for each of the route's chat channels.
func escalationChange(rt *receiverconfig.Runtime, logger *slog.Logger, route string, msg *alert.Message, s escalation.State, pages []escalation.Page) (*store.EscalationChange, error) {
	state, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encoding escalation state: %w", err)
	}
	change := &store.EscalationChange{Route: route, Policy: s.Policy, State: state, Delete: s.Resolved}
	change.NextAt, _ = s.Next()
	for _, page := range pages {
		if skipPage(page) {
			continue
		}
		ds, err := pageDeliveries(rt, logger, route, msg, page)
		if err != nil {
			return nil, err
		}
		change.Deliveries = append(change.Deliveries, ds...)
	}
	return change, nil
}

// skipPage reports whether a page is already made: the first loop's level
// 1 is mentioned by the trigger message itself.
func skipPage(p escalation.Page) bool {
	return p.Kind == escalation.PageEscalate && p.Loop == 1 && p.Level == 1
}

// pageDeliveries makes a page into one outbox row per chat channel of the
// route, each mentioning the page's recipients as its channel type does.
func pageDeliveries(rt *receiverconfig.Runtime, logger *slog.Logger, route string, msg *alert.Message, page escalation.Page) ([]store.NewDelivery, error) {
	r := rt.Config.Route(route)
	if r == nil {
		return nil, nil
	}
	kind := notify.KindEscalate
	if page.Kind == escalation.PageAcknowledged {
		kind = notify.KindAcknowledged
	} else {
		page.AddRecipients(rt.Roster, rt.Roster)
	}
	if len(page.Uncovered) > 0 {
		logger.Warn("nobody on call to page", "route", route, "level", page.Level, "schedules", page.Uncovered,
			"fallbacks", len(page.Redirects))
	}
	var out []store.NewDelivery
	for _, name := range r.Channels {
		ch, ok := rt.Channels[name]
		chat, isChat := ch.Notifier.(notify.Chat)
		if !ok || !isChat {
			continue
		}
		env := &notify.Envelope{Message: msg, Kind: kind, Level: page.Level, AckedBy: page.By}
		if kind == notify.KindEscalate {
			env.Mentions = page.MentionsOn(ch.Integration, chat)
			env.Redirects = page.NotifyRedirects()
		}
		data, err := env.Encode()
		if err != nil {
			return nil, err
		}
		out = append(out, store.NewDelivery{Channel: name, Kind: string(kind), Payload: data})
	}
	return out, nil
}

// fingerprints are the firing alerts' fingerprints.
func fingerprints(msg *alert.Message) []string {
	var out []string
	for _, a := range msg.Firing() {
		out = append(out, a.Fingerprint)
	}
	return out
}

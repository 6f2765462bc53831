package receiver

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
	"github.com/klaxonhq/klaxon/pkg/statuspage"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// Escalation timer.
const (
	// EscalationTick is how often RunEscalations looks for escalations
	// whose timer is due.
	EscalationTick = time.Second
	// escalationLease is how long a claimed escalation is held before
	// another worker may take it, should this one die mid-update.
	escalationLease = time.Minute
	// escalationBatch is how many due escalations one tick claims.
	escalationBatch = 100
)

// Escalator runs the incidents' escalations: it starts, refreshes and
// resolves them from the webhook's notifications, pages the next level
// when a timer is due, and records acknowledgements. Every change is
// stored with its outbox rows in one transaction.
type Escalator struct {
	runtime func() *Runtime
	store   store.Escalations
	// wake tells the deliverer that deliveries were added.
	wake      func()
	kick      chan struct{}
	timeToAck *prometheus.HistogramVec
	// ackRoutes keeps timeToAck's series at 0 for the routes with an
	// escalation policy.
	ackRoutes *routeSeries
	logger    *slog.Logger
}

// NewEscalator returns an escalator over the store's escalations. runtime
// is asked for the Runtime in force, whose Now is the escalations' clock;
// wake is called after deliveries were added.
func NewEscalator(runtime func() *Runtime, st store.Escalations, wake func(), reg prometheus.Registerer, logger *slog.Logger) (*Escalator, error) {
	e := &Escalator{
		runtime: runtime, store: st, wake: wake, kick: make(chan struct{}, 1), logger: logger,
		timeToAck: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "klaxon_receiver_time_to_acknowledge_seconds",
			Help:    "Time from an incident's start to its first acknowledgement, by route.",
			Buckets: []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400},
		}, []string{"route"}),
	}
	e.ackRoutes = &routeSeries{vec: e.timeToAck.MetricVec}
	e.setRoutes(runtime().Config)
	for _, c := range []prometheus.Collector{e.timeToAck, &incidentCollector{escalator: e}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the incident metrics: %w", err)
		}
	}
	return e, nil
}

// setRoutes starts the time to acknowledge of cfg's routes with an
// escalation policy at 0 and drops that of the others.
func (e *Escalator) setRoutes(cfg *Config) { e.ackRoutes.set(escalatedRoutes(cfg)) }

// Run ticks every EscalationTick, and when woken, until ctx is done. A
// failed tick is logged and tried again at the next one.
func (e *Escalator) Run(ctx context.Context) error {
	ticker := time.NewTicker(EscalationTick)
	defer ticker.Stop()
	for {
		if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			e.logger.Error("escalation tick failed; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-e.kick:
		}
	}
}

// Wake makes Run tick now.
func (e *Escalator) Wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Tick sends every page due by the Runtime's clock: it claims the due
// escalations and applies Tick to each.
func (e *Escalator) Tick(ctx context.Context) error {
	now := e.runtime().Now()
	due, err := e.store.ClaimDueEscalations(ctx, now, escalationLease, escalationBatch)
	if err != nil {
		return fmt.Errorf("claiming due escalations: %w", err)
	}
	var errs []error
	added := false
	for _, d := range due {
		n, err := e.update(ctx, d.IncidentKey, escalation.Tick{}, now)
		if err != nil {
			errs = append(errs, err)
		}
		added = added || n > 0
	}
	if added {
		e.wake()
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
// result says by whom. It returns an error wrapping statuspage.ErrNotFound for
// an unknown or resolved incident, ErrBadID or ErrAmbiguousID.
func (e *Escalator) Acknowledge(ctx context.Context, id, by string) (Acknowledgement, error) {
	key, err := findIncident(ctx, e.store, id)
	if err != nil {
		return Acknowledgement{}, err
	}
	var started time.Time
	var route string
	now := e.runtime().Now()
	res := Acknowledgement{Incident: key, By: by, At: now}
	n, err := e.updateWith(ctx, key, escalation.Ack{By: by}, now, func(cur *store.Escalation, s escalation.State, pages []escalation.Page) {
		res.By, res.At, res.Already = s.AckedBy, s.AckedAt, len(pages) == 0
		if len(pages) > 0 {
			started, route = s.Started, cur.Route
		}
	})
	if err != nil {
		return Acknowledgement{}, err
	}
	if !started.IsZero() {
		e.timeToAck.WithLabelValues(route).Observe(now.Sub(started).Seconds())
		e.logger.Info("incident acknowledged", "incident", key, "route", route, "by", by)
	}
	if n > 0 {
		e.wake()
	}
	return res, nil
}

// Resolve ends the escalation of the incident id names (its key or a
// prefix) by hand: nobody is paged for it any more. The alerts stay as
// Alertmanager has them. It returns the incident's key, and an error
// wrapping statuspage.ErrNotFound for an unknown or resolved incident,
// ErrBadID or ErrAmbiguousID.
func (e *Escalator) Resolve(ctx context.Context, id, by string) (string, error) {
	key, err := findIncident(ctx, e.store, id)
	if err != nil {
		return "", err
	}
	if _, err := e.update(ctx, key, escalation.Resolve{}, e.runtime().Now()); err != nil {
		return "", err
	}
	e.logger.Info("escalation resolved by hand", "incident", key, "by", by)
	return key, nil
}

// update applies event to the incident's escalation at now and returns
// how many deliveries it added.
func (e *Escalator) update(ctx context.Context, key string, event escalation.Event, now time.Time) (int, error) {
	return e.updateWith(ctx, key, event, now, nil)
}

// updateWith is update that also shows the new state and pages to seen,
// in the transaction.
func (e *Escalator) updateWith(ctx context.Context, key string, event escalation.Event, now time.Time,
	seen func(*store.Escalation, escalation.State, []escalation.Page)) (int, error) {
	rt := e.runtime()
	added := 0
	err := e.store.UpdateEscalation(ctx, key, func(cur *store.Escalation) (*store.EscalationChange, error) {
		_, isTick := event.(escalation.Tick)
		if cur == nil {
			if isTick {
				return nil, nil
			}
			return nil, fmt.Errorf("incident %s: %w", key, statuspage.ErrNotFound)
		}
		s, p, err := rt.escalationOf(cur)
		if err != nil {
			return nil, err
		}
		if p == nil {
			e.logger.Warn("escalation policy no longer in the config; escalation stopped", "incident", key, "policy", cur.Policy)
			return &store.EscalationChange{State: cur.State}, nil
		}
		if s.Resolved {
			return nil, fmt.Errorf("incident %s: %w", key, statuspage.ErrNotFound)
		}
		next, pages := s.On(event, p, now)
		msg, err := alert.Decode(bytes.NewReader(cur.Payload))
		if err != nil {
			return nil, fmt.Errorf("incident %s: decoding its payload: %w", key, err)
		}
		change, err := rt.escalationChange(cur.Route, msg, next, pages)
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

// ingestHook returns the store.Ingest Escalate hook for a notification
// on route: it starts the incident's escalation when the route has a
// policy, refreshes it with the alerts, and deletes it on resolution.
func (rt *Runtime) ingestHook(route *Route, msg *alert.Message) func(*store.Escalation) (*store.EscalationChange, error) {
	now := rt.Now()
	return func(cur *store.Escalation) (*store.EscalationChange, error) {
		resolved := msg.Status == alert.StatusResolved
		if cur == nil {
			p, ok := rt.Config.EscalationPolicies.Get(route.EscalationPolicy)
			if route.EscalationPolicy == "" || !ok || resolved {
				return nil, nil
			}
			// Level 1 is paged by the trigger message's mentions.
			s, _ := escalation.Start(p, now, fingerprints(msg))
			return rt.escalationChange(route.Name, msg, s, nil)
		}
		s, p, err := rt.escalationOf(cur)
		if err != nil {
			return nil, err
		}
		if resolved || p == nil {
			return &store.EscalationChange{Delete: true}, nil
		}
		next, pages := s.On(escalation.Alerts{Fingerprints: fingerprints(msg), Reason: msg.NotificationReason}, p, now)
		return rt.escalationChange(cur.Route, msg, next, pages)
	}
}

// escalationOf decodes a stored escalation's state and finds its policy;
// the policy is nil when the config no longer has it.
func (rt *Runtime) escalationOf(cur *store.Escalation) (escalation.State, *escalation.Policy, error) {
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
func (rt *Runtime) escalationChange(route string, msg *alert.Message, s escalation.State, pages []escalation.Page) (*store.EscalationChange, error) {
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
		ds, err := rt.pageDeliveries(route, msg, page)
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
	return p.Kind == escalation.KindEscalate && p.Loop == 1 && p.Level == 1
}

// pageDeliveries makes a page into one outbox row per chat channel of the
// route, each mentioning the page's recipients as its channel type does.
func (rt *Runtime) pageDeliveries(route string, msg *alert.Message, page escalation.Page) ([]store.NewDelivery, error) {
	r := rt.Config.Route(route)
	if r == nil {
		return nil, nil
	}
	kind := notify.KindEscalate
	if page.Kind == escalation.KindAcknowledged {
		kind = notify.KindAcknowledged
	} else {
		page.AddRecipients(rt.Roster, rt.Roster)
	}
	if len(page.Uncovered) > 0 && rt.logger != nil {
		rt.logger.Warn("nobody on call to page", "route", route, "level", page.Level, "schedules", page.Uncovered)
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
			env.Mentions = page.MentionsOn(ch.Kind, chat)
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

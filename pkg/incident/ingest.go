package incident

import (
	"context"
	"log/slog"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// Ingest records a notification from Alertmanager on route, decoded as
// msg from payload, into its incident: the group's state, one delivery
// per channel of the route, and the start, refresh or end of the
// incident's escalation, in one transaction. receivedAt is when the
// webhook took it; the escalation's clock is the config's. Ingest returns
// once the store has committed; the caller wakes the deliverer when
// deliveries were added.
func (m *Manager) Ingest(ctx context.Context, route *receiverconfig.Route, msg *alert.Message, payload []byte, receivedAt time.Time) (store.IngestResult, error) {
	rt := m.current.Get()
	now := rt.Now()
	in := &store.Ingest{
		Route:       route.Name,
		IncidentKey: alert.IncidentKey(route.Name, msg.GroupKey),
		GroupKey:    msg.GroupKey,
		StateHash:   msg.StateHash(),
		Alerts:      alertStates(msg),
		Status:      msg.Status,
		Kind:        string(kindOf(msg)),
		Payload:     payload,
		Channels:    route.Channels,
		ReceivedAt:  receivedAt,
		Escalate:    &ingestion{rt: rt, logger: m.logger, route: route, msg: msg, now: now},
	}
	return m.store.Ingest(ctx, in)
}

func alertStates(msg *alert.Message) []store.AlertState {
	out := make([]store.AlertState, len(msg.Alerts))
	for i, a := range msg.Alerts {
		out[i] = store.AlertState{Fingerprint: a.Fingerprint, StartsAt: a.StartsAt, Resolved: a.Status == alert.StatusResolved}
	}
	return out
}

func kindOf(msg *alert.Message) notify.Kind {
	if msg.Status == alert.StatusResolved {
		return notify.KindResolve
	}
	return notify.KindTrigger
}

// ingestion is the store.EscalationHook of one notification: it starts
// the incident's escalation when the route has a policy, refreshes it with
// the alerts, and deletes it on resolution.
type ingestion struct {
	rt     *receiverconfig.Runtime
	logger *slog.Logger
	route  *receiverconfig.Route
	msg    *alert.Message
	now    time.Time
}

var _ store.EscalationHook = (*ingestion)(nil)

func (in *ingestion) Escalate(cur *store.Escalation) (*store.EscalationChange, error) {
	rt, msg := in.rt, in.msg
	resolved := msg.Status == alert.StatusResolved
	if cur == nil {
		p, ok := rt.Config.EscalationPolicies.Get(in.route.EscalationPolicy)
		if in.route.EscalationPolicy == "" || !ok || resolved {
			return nil, nil
		}
		// Level 1 is paged by the trigger message's mentions.
		s, _ := escalation.Start(p, in.now, fingerprints(msg))
		return escalationChange(rt, in.logger, in.route.Name, msg, s, nil)
	}
	s, p, err := escalationOf(rt, cur)
	if err != nil {
		return nil, err
	}
	if resolved || p == nil {
		return &store.EscalationChange{Delete: true}, nil
	}
	next, pages := s.On(escalation.Alerts{Fingerprints: fingerprints(msg), Reason: msg.NotificationReason}, p, in.now)
	return escalationChange(rt, in.logger, cur.Route, msg, next, pages)
}

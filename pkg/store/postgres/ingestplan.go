package postgres

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// ingestPlan is what one batch of Ingest calls writes, decided in Go from
// what the batch read, call after call as one transaction per call would
// have: each call sees the incident's state and escalation as the calls
// before it in the batch left them. Rows refer to the batch's
// notifications by their index in notifications; ingestTx gives the
// notifications and deliveries their ids, in the plan's order.
type ingestPlan struct {
	results []store.IngestResult
	// refused[i] is the error of call i when its escalation hook failed:
	// the call writes nothing.
	refused []error
	// incidents are the incidents' last states, one row each, by key.
	incidents     []incidentRow
	notifications []notificationRow
	deliveries    []deliveryRow
	// escalations are the escalations the batch changed, one each, by key.
	escalations []escalationWrite
}

type incidentRow struct {
	key, route, groupKey, status, stateHash, alerts string
	// firstSeen is recorded for an incident the store had not seen.
	firstSeen, updatedAt int64
}

type notificationRow struct {
	key        string
	receivedAt int64
	payload    []byte
}

type deliveryRow struct {
	channel, route, key, kind string
	// notification is the index of the delivery's notification.
	notification int
	createdAt    int64
}

// escalationOp is how a batch leaves an incident's escalation.
type escalationOp int

const (
	escalationKept escalationOp = iota
	// escalationUpserted: recorded as it is now, lease released.
	escalationUpserted
	// escalationDeleted: the row is gone.
	escalationDeleted
	// escalationReferred: only its notification changed.
	escalationReferred
)

type escalationWrite struct {
	op  escalationOp
	key string
	// cur is the escalation as upserted, nil once deleted.
	cur     *store.Escalation
	nextAt  int64
	updated int64
	// notification is the index of the notification it refers to.
	notification int
}

// planIngest decides the calls, in order, given the recorded states of
// their incidents (states) and their escalations (escalations, without
// payloads), neither of which it changes. An error fails every call.
func planIngest(calls []*store.Ingest, states map[string]*store.Recorded, escalations map[string]*store.Escalation) (*ingestPlan, error) {
	p := &ingestPlan{results: make([]store.IngestResult, len(calls)), refused: make([]error, len(calls))}
	recorded := make(map[string]*store.Recorded, len(calls))
	incidents := make(map[string]*incidentRow, len(calls))
	escs := make(map[string]*escalationWrite)
	for i, in := range calls {
		cur, ok := recorded[in.IncidentKey]
		if !ok {
			cur = states[in.IncidentKey]
		}
		next, news := store.Offer(cur, in)
		if !news {
			p.results[i] = store.IngestResult{Duplicate: true}
			continue
		}
		alerts, err := store.EncodeAlerts(next.Alerts)
		if err != nil {
			return nil, err
		}
		res, refused := p.record(in, escs, escalations)
		if refused != nil {
			p.refused[i] = refused
			continue
		}
		p.results[i] = res
		recorded[in.IncidentKey] = &next
		at := nanos(in.ReceivedAt)
		row := incidents[in.IncidentKey]
		if row == nil {
			row = &incidentRow{key: in.IncidentKey, firstSeen: at}
			incidents[in.IncidentKey] = row
		}
		row.route, row.groupKey, row.status, row.stateHash, row.alerts, row.updatedAt = in.Route, in.GroupKey, in.Status, in.StateHash, alerts, at
	}
	for _, row := range incidents {
		p.incidents = append(p.incidents, *row)
	}
	slices.SortFunc(p.incidents, func(a, b incidentRow) int { return compareKeys(a.key, b.key) })
	for _, w := range escs {
		if w.op != escalationKept {
			p.escalations = append(p.escalations, *w)
		}
	}
	slices.SortFunc(p.escalations, func(a, b escalationWrite) int { return compareKeys(a.key, b.key) })
	return p, nil
}

// compareKeys orders keys byte by byte, as their COLLATE "C" columns do.
func compareKeys(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) }

// record adds the rows of one notification that is news: its payload, a
// delivery per channel, and what its escalation hook changes, as
// escalateTx records them. When the hook fails (or returns a change that
// is not valid) it adds nothing and returns the error as refused.
func (p *ingestPlan) record(in *store.Ingest, escs map[string]*escalationWrite, read map[string]*store.Escalation) (store.IngestResult, error) {
	at := nanos(in.ReceivedAt)
	note := len(p.notifications)
	notes := []notificationRow{{key: in.IncidentKey, receivedAt: at, payload: in.Payload}}
	deliveries := make([]deliveryRow, 0, len(in.Channels))
	for _, ch := range in.Channels {
		deliveries = append(deliveries, deliveryRow{channel: ch, route: in.Route, key: in.IncidentKey, kind: in.Kind, notification: note, createdAt: at})
	}
	res := store.IngestResult{Deliveries: len(in.Channels)}
	if in.Escalate != nil {
		w := escs[in.IncidentKey]
		if w == nil {
			w = &escalationWrite{key: in.IncidentKey, cur: read[in.IncidentKey]}
		}
		change, err := escalate(in, w)
		if err != nil {
			return store.IngestResult{}, fmt.Errorf("recording notification: escalating incident %s: %w", in.IncidentKey, err)
		}
		if change != nil {
			route := escalationRouteOf(in, w.cur, change)
			w.apply(in, change, route, note)
			for _, d := range change.Deliveries {
				ref := note
				if len(d.Payload) > 0 {
					ref = note + len(notes)
					notes = append(notes, notificationRow{key: in.IncidentKey, receivedAt: at, payload: d.Payload})
				}
				deliveries = append(deliveries, deliveryRow{channel: d.Channel, route: route, key: in.IncidentKey, kind: d.Kind, notification: ref, createdAt: at})
			}
			res.Deliveries += len(change.Deliveries)
		} else if w.cur != nil {
			w.notification = note
			if w.op == escalationKept {
				w.op = escalationReferred
			}
		}
		escs[in.IncidentKey] = w
	}
	p.notifications = append(p.notifications, notes...)
	p.deliveries = append(p.deliveries, deliveries...)
	return res, nil
}

// escalate runs in's hook on the escalation w holds, with in's payload,
// and checks the change it returns. w is left as it is.
func escalate(in *store.Ingest, w *escalationWrite) (*store.EscalationChange, error) {
	var cur *store.Escalation
	if w.cur != nil {
		c := *w.cur
		c.State = bytes.Clone(c.State)
		c.Payload = in.Payload
		cur = &c
	}
	change, err := in.Escalate.Escalate(cur)
	if err != nil {
		return nil, err
	}
	if change != nil {
		if err := validChange(change); err != nil {
			return nil, err
		}
	}
	return change, nil
}

// escalationRouteOf is escalationRoute for a notification just accepted.
func escalationRouteOf(in *store.Ingest, cur *store.Escalation, change *store.EscalationChange) string {
	switch {
	case change.Route != "":
		return change.Route
	case cur != nil:
		return cur.Route
	}
	return in.Route
}

// apply records change as recordChange does, referring to notification
// note.
func (w *escalationWrite) apply(in *store.Ingest, change *store.EscalationChange, route string, note int) {
	w.notification = note
	if change.Delete {
		w.op, w.cur = escalationDeleted, nil
		return
	}
	policy := change.Policy
	if policy == "" && w.cur != nil {
		policy = w.cur.Policy
	}
	state := bytes.Clone(change.State)
	if state == nil {
		state = []byte{}
	}
	w.nextAt = 0
	if !change.NextAt.IsZero() {
		w.nextAt = nanos(change.NextAt)
	}
	w.updated = nanos(in.ReceivedAt)
	w.op = escalationUpserted
	w.cur = &store.Escalation{IncidentKey: in.IncidentKey, Route: route, Policy: policy, State: state,
		NextAt: fromNanos(w.nextAt), UpdatedAt: fromNanos(w.updated)}
}

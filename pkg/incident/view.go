package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/runbook"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// Incident statuses.
const (
	StatusFiring       = "firing"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Incident is one incident as the status page shows it.
type Incident struct {
	// ID is the incident key, as in acknowledgement links.
	ID    string
	Route string
	Title string
	// Severity is the alerts' severity label, such as "critical".
	Severity string
	// Status is StatusFiring, StatusAcknowledged or StatusResolved.
	Status  string
	Started time.Time
	// Level is the escalation level paged so far, from 1; 0 before any.
	Level int
	// Paged names the users paged so far.
	Paged   []string
	AckedBy string
	AckedAt time.Time
	Alerts  []Alert
}

// Alert is one alert of an incident.
type Alert struct {
	Name       string
	Summary    string
	RunbookURL string
}

// openIncident reports whether rows hold the incident, not resolved.
func openIncident(rows []store.Escalation, incident string) bool {
	for _, e := range rows {
		if e.IncidentKey != incident {
			continue
		}
		var st escalation.State
		return json.Unmarshal(e.State, &st) == nil && !st.Resolved
	}
	return false
}

// incident is an escalation as the status page shows it at now.
func view(rt *receiverconfig.Runtime, e store.Escalation, now time.Time) (Incident, error) {
	var st escalation.State
	if err := json.Unmarshal(e.State, &st); err != nil {
		return Incident{}, fmt.Errorf("decoding escalation state: %w", err)
	}
	inc := Incident{
		ID: e.IncidentKey, Route: e.Route, Title: e.Route, Status: incidentStatus(st),
		Started: st.Started, Level: st.Level, AckedBy: st.AckedBy, AckedAt: st.AckedAt,
		Paged: pagedNow(rt, st, now),
	}
	if len(e.Payload) == 0 {
		return inc, nil
	}
	msg, err := alert.Decode(bytes.NewReader(e.Payload))
	if err != nil {
		return Incident{}, fmt.Errorf("decoding payload: %w", err)
	}
	rt.Runbooks.ResolveMessage(msg)
	inc.Title, inc.Severity, inc.Alerts = incidentTitle(msg, e.Route), msg.Severity(), incidentAlerts(msg)
	return inc, nil
}

func incidentStatus(st escalation.State) string {
	switch {
	case st.Resolved:
		return StatusResolved
	case st.Acked():
		return StatusAcknowledged
	}
	return StatusFiring
}

// pagedNow are the users the current level pages, resolved at now.
func pagedNow(rt *receiverconfig.Runtime, st escalation.State, now time.Time) []string {
	p, ok := rt.Config.EscalationPolicies.Get(st.Policy)
	if !ok || st.Level < 1 || st.Level > len(p.Levels) {
		return nil
	}
	page := escalation.Page{Level: st.Level, Loop: st.Loop, Targets: p.Levels[st.Level-1].Targets, Fallback: p.Fallback, Due: now}
	page.AddRecipients(rt.Roster, rt.Roster)
	return page.Users
}

// incidentTitle is the alert name and summary the alerts share, else the
// route's name.
func incidentTitle(msg *alert.Message, route string) string {
	name, summary := msg.CommonLabels["alertname"], msg.CommonAnnotations["summary"]
	switch {
	case name != "" && summary != "":
		return name + ": " + summary
	case name != "":
		return name
	case summary != "":
		return summary
	}
	return route
}

// incidentAlerts are the firing alerts, or every alert when none fires.
func incidentAlerts(msg *alert.Message) []Alert {
	alerts := msg.Firing()
	if len(alerts) == 0 {
		alerts = msg.Alerts
	}
	out := make([]Alert, len(alerts))
	for i, a := range alerts {
		out[i] = Alert{Name: a.Labels["alertname"], Summary: a.Annotations["summary"], RunbookURL: a.Annotations[runbook.Annotation]}
	}
	return out
}

// Incidents lists the incidents with an escalation. One whose state
// cannot be read is left out, with a warning.
func (m *Manager) Incidents(ctx context.Context) ([]Incident, error) {
	rows, err := m.store.OpenEscalations(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing escalations: %w", err)
	}
	rt := m.current.Get()
	now := rt.Now()
	out := make([]Incident, 0, len(rows))
	for _, row := range rows {
		inc, err := view(rt, row, now)
		if err != nil {
			m.logger.Warn("incident left off the status page", "incident", row.IncidentKey, "err", err)
			continue
		}
		out = append(out, inc)
	}
	return out, nil
}

// AcknowledgeOpen acknowledges an open incident, named by its key or a
// prefix, as the status page does: an ID that names no single incident
// is ErrNotFound; an incident someone else acknowledged is
// ErrAcknowledged.
func (m *Manager) AcknowledgeOpen(ctx context.Context, incident, by string) error {
	key, err := findIncident(ctx, m.store, incident)
	if errors.Is(err, ErrBadID) || errors.Is(err, ErrAmbiguousID) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return err
	}
	rows, err := m.store.OpenEscalations(ctx)
	if err != nil {
		return fmt.Errorf("listing escalations: %w", err)
	}
	if !openIncident(rows, key) {
		return fmt.Errorf("incident %s: %w", incident, ErrNotFound)
	}
	a, err := m.Acknowledge(ctx, key, by)
	if err == nil && a.Already && !SamePerson(a.By, by) {
		return fmt.Errorf("incident %s, acknowledged by %s: %w", key, a.By, ErrAcknowledged)
	}
	return err
}

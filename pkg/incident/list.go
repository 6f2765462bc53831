package incident

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// metricsTimeout bounds the store query of a scrape.
const metricsTimeout = 5 * time.Second

// Summary is one open incident's escalation, as the incidents API and
// the incidents command show it.
type Summary struct {
	ID     string `json:"id"`
	Route  string `json:"route"`
	Policy string `json:"policy"`
	// Level is the level paged so far in Loop; 0 before any.
	Level   int       `json:"level"`
	Loop    int       `json:"loop"`
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
	Started time.Time `json:"started"`
	// NextEscalation is when the next page is due; zero when none is.
	NextEscalation time.Time `json:"next_escalation,omitzero"`
}

// Open lists the open incidents, by incident key.
func (m *Manager) Open(ctx context.Context) ([]Summary, error) {
	rows, err := m.store.OpenEscalations(ctx)
	if err != nil {
		return nil, err
	}
	out := []Summary{}
	for _, row := range rows {
		var s escalation.State
		if err := json.Unmarshal(row.State, &s); err != nil {
			return nil, fmt.Errorf("incident %s: decoding its escalation state: %w", row.IncidentKey, err)
		}
		if s.Resolved {
			continue
		}
		next, _ := s.Next()
		out = append(out, Summary{
			ID: row.IncidentKey, Route: row.Route, Policy: s.Policy, Level: s.Level, Loop: s.Loop,
			AckedBy: s.AckedBy, AckedAt: s.AckedAt, Started: s.Started, NextEscalation: next,
		})
	}
	return out, nil
}

// Descriptions of the incident metrics.
var (
	incidentsOpenDesc = prometheus.NewDesc("klaxon_receiver_incidents_open",
		"Open incidents with an escalation, by route.", []string{"route"}, nil)
	incidentsUnackedDesc = prometheus.NewDesc("klaxon_receiver_incidents_unacknowledged",
		"Open incidents nobody acknowledged, by route.", []string{"route"}, nil)
	incidentOldestUnackedDesc = prometheus.NewDesc("klaxon_receiver_incident_oldest_unacknowledged_age_seconds",
		"Age of the oldest open incident nobody acknowledged, by route; 0 when there is none.", []string{"route"}, nil)
	incidentsPastLastDesc = prometheus.NewDesc("klaxon_receiver_incidents_past_last_level",
		"Open incidents nobody acknowledged although their policy's last level was paged, by route.", []string{"route"}, nil)
	incidentsByLevelDesc = prometheus.NewDesc("klaxon_receiver_incidents_by_level",
		"Open incidents by route and the escalation level last paged (0: none yet).", []string{"route", "level"}, nil)
)

// incidentCollector computes the incident metrics at scrape time from the
// open escalations.
type incidentCollector struct {
	manager *Manager
}

func (c *incidentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{incidentsOpenDesc, incidentsUnackedDesc, incidentOldestUnackedDesc, incidentsPastLastDesc, incidentsByLevelDesc} {
		ch <- d
	}
}

// routeIncidents is one route's incident counts.
type routeIncidents struct {
	open, unacked, pastLast int
	oldest                  time.Time
	byLevel                 map[int]int
}

func (c *incidentCollector) Collect(ch chan<- prometheus.Metric) {
	rt := c.manager.current.Get()
	ctx, cancel := context.WithTimeout(context.Background(), metricsTimeout)
	defer cancel()
	rows, err := c.manager.store.OpenEscalations(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(incidentsOpenDesc, err)
		return
	}
	counts := map[string]*routeIncidents{}
	for _, r := range rt.Config.Routes {
		if r.EscalationPolicy == "" {
			continue
		}
		n := &routeIncidents{byLevel: map[int]int{}}
		if p, ok := rt.Config.EscalationPolicies.Get(r.EscalationPolicy); ok {
			for level := range len(p.Levels) {
				n.byLevel[level+1] = 0
			}
		}
		counts[r.Name] = n
	}
	for _, row := range rows {
		count(counts, row, rt)
	}
	now := rt.Now()
	for route, n := range counts {
		var age float64
		if !n.oldest.IsZero() {
			age = max(now.Sub(n.oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(incidentsOpenDesc, prometheus.GaugeValue, float64(n.open), route)
		ch <- prometheus.MustNewConstMetric(incidentsUnackedDesc, prometheus.GaugeValue, float64(n.unacked), route)
		ch <- prometheus.MustNewConstMetric(incidentOldestUnackedDesc, prometheus.GaugeValue, age, route)
		ch <- prometheus.MustNewConstMetric(incidentsPastLastDesc, prometheus.GaugeValue, float64(n.pastLast), route)
		for level, k := range n.byLevel {
			ch <- prometheus.MustNewConstMetric(incidentsByLevelDesc, prometheus.GaugeValue, float64(k), route, strconv.Itoa(level))
		}
	}
}

// count adds one escalation to its route's counts.
func count(counts map[string]*routeIncidents, row store.Escalation, rt *receiverconfig.Runtime) {
	var s escalation.State
	if json.Unmarshal(row.State, &s) != nil || s.Resolved {
		return
	}
	n, ok := counts[row.Route]
	if !ok {
		n = &routeIncidents{byLevel: map[int]int{}}
		counts[row.Route] = n
	}
	n.open++
	n.byLevel[s.Level]++
	if s.Acked() {
		return
	}
	n.unacked++
	if n.oldest.IsZero() || s.Started.Before(n.oldest) {
		n.oldest = s.Started
	}
	if p, ok := rt.Config.EscalationPolicies.Get(s.Policy); ok && pastLastLevel(s, p) {
		n.pastLast++
	}
}

// pastLastLevel reports whether the policy's last level has been paged.
func pastLastLevel(s escalation.State, p *escalation.Policy) bool {
	return s.Loop > 1 || (len(p.Levels) > 0 && s.Level >= len(p.Levels))
}

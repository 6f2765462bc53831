package notifytest

import (
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
)

// Start is when the fixtures' alerts start firing.
var Start = time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)

// NewAlert is an alert of the fixtures: firing since Start, resolved ten
// minutes later, its fingerprint and graph link from its labels.
func NewAlert(status string, labels, annotations map[string]string) alert.Alert {
	a := alert.Alert{Status: status, Labels: labels, Annotations: annotations, StartsAt: Start,
		GeneratorURL: "http://prometheus:9090/graph?g0.expr=" + labels["alertname"], Fingerprint: "f" + labels["instance"]}
	if status == alert.StatusResolved {
		a.EndsAt = Start.Add(10 * time.Minute)
	}
	return a
}

// FiringTwo is a critical group of two firing HighErrorRate alerts with
// summaries and runbook links.
func FiringTwo() *alert.Message {
	return &alert.Message{
		Version: "4", GroupKey: `{}:{alertname="HighErrorRate", job="api"}`, Status: alert.StatusFiring, Receiver: "klaxon",
		GroupLabels:       map[string]string{"alertname": "HighErrorRate", "job": "api"},
		CommonLabels:      map[string]string{"alertname": "HighErrorRate", "job": "api", "severity": "critical"},
		CommonAnnotations: map[string]string{"runbook_url": "https://runbooks.example.com/higherrorrate.md"},
		ExternalURL:       "http://alertmanager:9093",
		Alerts: []alert.Alert{
			NewAlert(alert.StatusFiring, map[string]string{"alertname": "HighErrorRate", "job": "api", "severity": "critical", "instance": "api-1:8080"},
				map[string]string{"summary": "5% of requests fail on api-1", "runbook_url": "https://runbooks.example.com/higherrorrate.md"}),
			NewAlert(alert.StatusFiring, map[string]string{"alertname": "HighErrorRate", "job": "api", "severity": "critical", "instance": "api-2:8080"},
				map[string]string{"summary": "7% of requests fail on api-2", "runbook_url": "https://runbooks.example.com/higherrorrate.md"}),
		},
	}
}

// Resolved is FiringTwo with every alert resolved.
func Resolved() *alert.Message {
	m := FiringTwo()
	m.Status = alert.StatusResolved
	for i := range m.Alerts {
		m.Alerts[i] = NewAlert(alert.StatusResolved, m.Alerts[i].Labels, m.Alerts[i].Annotations)
	}
	return m
}

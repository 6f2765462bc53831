package notify

import (
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/klaxonhq/klaxon/pkg/alert"
)

// Template renders message text with Alertmanager's template package: its
// default templates and functions, plus the user's files, so that a title
// or body can be overridden in the template language users already know.
type Template struct {
	t *template.Template
}

// NewTemplate loads Alertmanager's defaults and the files matching the
// given globs.
func NewTemplate(globs []string) (*Template, error) {
	t, err := template.FromGlobs(globs)
	if err != nil {
		return nil, fmt.Errorf("loading templates: %w", err)
	}
	return &Template{t: t}, nil
}

// Execute renders text, a Go template, against n. An empty text renders
// as "". It is safe for concurrent use.
func (t *Template) Execute(text string, n *Notification) (string, error) {
	if text == "" {
		return "", nil
	}
	out, err := t.t.ExecuteTextString(text, Data(n))
	if err != nil {
		return "", Errorf(ReasonInvalid, "rendering template: %w", err)
	}
	return out, nil
}

// ExecuteData renders text, a Go template, against data rather than
// Data(n): for an integration whose templates see more than
// Alertmanager's data, such as the generic webhook's Klaxon fields. An
// empty text renders as "". It is safe for concurrent use.
func (t *Template) ExecuteData(text string, data any) (string, error) {
	out, err := t.t.ExecuteTextString(text, data)
	if err != nil {
		return "", Errorf(ReasonInvalid, "rendering template: %w", err)
	}
	return out, nil
}

// Data is the template data of a notification: Alertmanager's own shape, so
// that .Status, .Alerts.Firing, .CommonLabels and the default templates
// such as {{ template "__subject" . }} work as they do in Alertmanager.
func Data(n *Notification) *template.Data {
	m := n.Message
	d := &template.Data{
		Receiver:           m.Receiver,
		Status:             m.Status,
		NotificationReason: m.NotificationReason,
		GroupLabels:        template.KV(m.GroupLabels),
		CommonLabels:       template.KV(m.CommonLabels),
		CommonAnnotations:  template.KV(m.CommonAnnotations),
		ExternalURL:        m.ExternalURL,
	}
	for _, kv := range []*template.KV{&d.GroupLabels, &d.CommonLabels, &d.CommonAnnotations} {
		if *kv == nil {
			*kv = template.KV{}
		}
	}
	for _, a := range m.Alerts {
		d.Alerts = append(d.Alerts, templateAlert(a))
	}
	return d
}

func templateAlert(a alert.Alert) template.Alert {
	labels, annotations := template.KV(a.Labels), template.KV(a.Annotations)
	if labels == nil {
		labels = template.KV{}
	}
	if annotations == nil {
		annotations = template.KV{}
	}
	return template.Alert{
		Status:       a.Status,
		Labels:       labels,
		Annotations:  annotations,
		StartsAt:     a.StartsAt,
		EndsAt:       a.EndsAt,
		GeneratorURL: a.GeneratorURL,
		Fingerprint:  a.Fingerprint,
	}
}

// Since formats how long ago t was, for message text ("3m20s").
func Since(t, now time.Time) string {
	if t.IsZero() || now.Before(t) {
		return "0s"
	}
	return now.Sub(t).Truncate(time.Second).String()
}

// SampleNotification is a firing notification to try templates on at
// start-up, so that a broken template fails the config load rather than
// every page.
func SampleNotification() *Notification {
	labels := map[string]string{"alertname": "KlaxonTemplateCheck", "severity": "critical", "instance": "host:9100", "job": "node"}
	return &Notification{
		Channel: "template-check",
		Kind:    KindTrigger,
		Message: &alert.Message{
			Version: "4", GroupKey: "{}:{}", Status: alert.StatusFiring, Receiver: "klaxon",
			GroupLabels: map[string]string{"alertname": "KlaxonTemplateCheck"}, CommonLabels: labels,
			CommonAnnotations: map[string]string{}, ExternalURL: "http://alertmanager:9093",
			Alerts: []alert.Alert{{Status: alert.StatusFiring, Labels: labels, Annotations: map[string]string{}, Fingerprint: "0000000000000000"}},
		},
	}
}

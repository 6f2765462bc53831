package webhook

import (
	"strings"

	"github.com/prometheus/alertmanager/template"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// DefaultBody is the body of a channel that sets none: Alertmanager's
// own webhook payload (version 4), so that an endpoint written for
// Alertmanager reads it, with Klaxon's fields under "klaxon". Every value
// goes through toJson, so that whatever a label holds the body is JSON.
const DefaultBody = `{
  "version": {{ toJson .Version }},
  "groupKey": {{ toJson .GroupKey }},
  "truncatedAlerts": {{ toJson .TruncatedAlerts }},
  "status": {{ toJson .Status }},
  "receiver": {{ toJson .Receiver }},
  "groupLabels": {{ toJson .GroupLabels }},
  "commonLabels": {{ toJson .CommonLabels }},
  "commonAnnotations": {{ toJson .CommonAnnotations }},
  "externalURL": {{ toJson .ExternalURL }},
  "notification_reason": {{ toJson .NotificationReason }},
  "alerts": {{ toJson .Alerts }},
  "klaxon": {
    "kind": {{ toJson .Kind }},
    "incident_key": {{ toJson .IncidentKey }},
    "route": {{ toJson .Route }},
    "channel": {{ toJson .Channel }},
    "level": {{ toJson .Level }},
    "acked_by": {{ toJson .AckedBy }},
    "ack_url": {{ toJson .AckURL }}
  }
}
`

// Data is what a webhook channel's templates (body, url_suffix) see:
// Alertmanager's template data, as every channel's templates see it
// (.Status, .Alerts, .CommonLabels, {{ template "__subject" . }}), plus
// the rest of Alertmanager's webhook payload and Klaxon's fields.
type Data struct {
	*template.Data
	// Version, GroupKey and TruncatedAlerts are the Alertmanager
	// payload's.
	Version         string
	GroupKey        string
	TruncatedAlerts uint64
	// Kind is trigger, resolve or test.
	Kind string
	// IncidentKey is the incident's stable key; ShortID the short ID the
	// incidents command and the status page know it by.
	IncidentKey, ShortID string
	Route, Channel       string
	// Level, AckedBy and AckURL are set for the kinds that have them;
	// zero otherwise.
	Level   int
	AckedBy string
	AckURL  string
}

// NewData is n's template data.
func NewData(n *notify.Notification) *Data {
	d := &Data{
		Data: notify.Data(n), Kind: string(n.Kind), IncidentKey: n.IncidentKey, ShortID: alert.ShortID(n.IncidentKey),
		Route: n.Route, Channel: n.Channel, Level: n.Level, AckedBy: n.AckedBy, AckURL: n.AckURL,
	}
	if d.Alerts == nil {
		d.Alerts = template.Alerts{}
	}
	m := n.Message
	d.Version, d.GroupKey, d.TruncatedAlerts = m.Version, m.GroupKey, m.TruncatedAlerts
	return d
}

// hostile is the template check's second notification: the sample with
// a quote, a backslash, a newline and a closing script tag in every
// label, annotation and free text, so that a body that interpolates one
// without toJson fails at load, not at the first alert that holds one.
func hostile() *notify.Notification {
	const nasty = "\"\\\n</script>"
	n := notify.SampleNotification()
	m := *n.Message
	spoil := func(kv map[string]string) map[string]string {
		out := make(map[string]string, len(kv))
		for k, v := range kv {
			out[k] = v + nasty
		}
		return out
	}
	m.GroupLabels, m.CommonLabels, m.CommonAnnotations = spoil(m.GroupLabels), spoil(m.CommonLabels), spoil(m.CommonAnnotations)
	m.CommonAnnotations["summary"] = "summary" + nasty
	m.Receiver += nasty
	m.Alerts = nil
	for _, a := range n.Message.Alerts {
		a.Labels, a.Annotations = spoil(a.Labels), spoil(a.Annotations)
		a.Annotations["summary"] = "summary" + nasty
		m.Alerts = append(m.Alerts, a)
	}
	n.Message = &m
	n.AckedBy = "o'brien" + nasty
	n.AckURL = "http://klaxon.example/ack?token=" + strings.Repeat("a", 8)
	return n
}

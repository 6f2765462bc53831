// Package pagerduty pages through PagerDuty's Events API v2: one PagerDuty
// alert per incident (dedup_key = the incident key), triggered while any
// alert of the group fires and resolved when all are resolved.
package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// PagerDuty's limits (Events API v2, "Send an Alert Event" and
// "Events API Rate Limits").
const (
	// maxSummary is the limit on payload.summary: 1024 characters.
	maxSummary = 1024
	// maxEventBytes is the cap on one event, 512 KB; counted as 512000
	// bytes, as Alertmanager does.
	maxEventBytes = 512000
	// maxField bounds payload.source and payload.class. PagerDuty documents
	// no limit for them; without one, a huge label value would push the
	// event past maxEventBytes even without custom_details, and the page
	// would be refused for good.
	maxField = 1024
	// rateLimitWait is the least wait after a 429: PagerDuty sends no
	// Retry-After and advises retrying 30 seconds apart.
	rateLimitWait = 30 * time.Second
)

// DefaultLimit keeps a routing key under PagerDuty's documented 120 events
// per minute (sliding 60 s window): a burst of 10 plus 110 a minute never
// puts more than 120 into any 60 seconds.
var DefaultLimit = notify.Limit{Every: time.Minute / 110, Burst: 10}

// Event is one Events API v2 request body.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload describes a triggered alert.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown on the PagerDuty alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// alertDetails is one alert in custom_details.
type alertDetails struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"starts_at"`
}

// Notifier sends notifications to one PagerDuty integration.
type Notifier struct {
	conf   *Config
	tmpl   *notify.Template
	client *http.Client
	logger *slog.Logger
}

var _ notify.LatestOnly = (*Notifier)(nil)

// New checks c's templates and returns its notifier.
func New(c *Config, opts notify.Options) (*Notifier, error) {
	opts, err := opts.WithDefaults()
	if err != nil {
		return nil, err
	}
	p := &Notifier{conf: c, tmpl: opts.Template, client: opts.Client, logger: opts.Logger}
	if _, err := p.trigger(notify.SampleNotification(), ""); err != nil {
		return nil, fmt.Errorf("checking pagerduty templates: %w", err)
	}
	return p, nil
}

// LatestOnly marks the notifier notify.LatestOnly: each event sets the
// state of the incident's alert, keyed by its dedup_key, so of an
// incident's waiting notifications only the latest need go.
func (p *Notifier) LatestOnly() {}

// Notify sends n as one event. Escalate and acknowledged notifications
// are skipped without a request: PagerDuty escalates and records
// acknowledgements by its own policies.
func (p *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	if n.Kind.Enveloped() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.conf.Timeout)
	defer cancel()
	key, err := p.conf.routingKey()
	if err != nil {
		return err
	}
	ev, err := p.event(n, key)
	if err != nil {
		return notify.Redact(err, key)
	}
	if err := p.fit(ev, n); err != nil {
		return notify.Redact(err, key)
	}
	resp, body, err := notify.PostJSON(ctx, p.client, p.conf.URL, nil, ev)
	if err != nil {
		return notify.Redact(err, key)
	}
	if err := checkStatus(resp, body); err != nil {
		return notify.Redact(err, key)
	}
	p.logger.Debug("pagerduty accepted event", "action", ev.EventAction, "dedup_key", ev.DedupKey)
	return nil
}

// event builds the request for n's kind.
func (p *Notifier) event(n *notify.Notification, key string) (*Event, error) {
	switch n.Kind {
	case notify.KindTest:
		return p.test(n, key), nil
	case notify.KindResolve:
		return &Event{RoutingKey: key, EventAction: "resolve", DedupKey: n.IncidentKey}, nil
	case notify.KindTrigger:
		if n.Message == nil {
			return nil, notify.Errorf(notify.ReasonInvalid, "trigger notification %d has no alerts", n.ID)
		}
		return p.trigger(n, key)
	}
	return nil, notify.Errorf(notify.ReasonInvalid, "unknown notification kind %q", n.Kind)
}

// trigger opens or updates the incident's PagerDuty alert.
func (p *Notifier) trigger(n *notify.Notification, key string) (*Event, error) {
	summary, err := p.render("summary", p.conf.Summary, n)
	if err != nil {
		return nil, err
	}
	source, err := p.render("source", p.conf.Source, n)
	if err != nil {
		return nil, err
	}
	if source == "" {
		source = "klaxon-receiver"
	}
	if s, cut := notify.Truncate(summary, maxSummary); cut {
		p.logger.Warn("truncated pagerduty summary", "limit", maxSummary)
		summary = s
	}
	source, _ = notify.Truncate(source, maxField)
	m := n.Message
	class, _ := notify.Truncate(m.CommonLabels["alertname"], maxField)
	clientURL := p.conf.ClientURL
	if clientURL == "" {
		clientURL = m.ExternalURL
	}
	return &Event{
		RoutingKey:  key,
		EventAction: "trigger",
		DedupKey:    n.IncidentKey,
		Client:      p.conf.Client,
		ClientURL:   clientURL,
		Links:       links(m),
		Payload: &Payload{
			Summary:       summary,
			Source:        source,
			Severity:      p.severity(m),
			Timestamp:     firstStart(m),
			Class:         class,
			CustomDetails: customDetails(m),
		},
	}, nil
}

// test is the event of `klaxon-receiver send-test`: a clearly labelled
// info alert, left open so that the on-call person sees it arrive.
func (p *Notifier) test(n *notify.Notification, key string) *Event {
	dedup := n.IncidentKey
	if dedup == "" {
		dedup = "klaxon-receiver-send-test-" + n.Channel
	}
	return &Event{
		RoutingKey:  key,
		EventAction: "trigger",
		DedupKey:    dedup,
		Client:      p.conf.Client,
		Payload: &Payload{
			Summary:  fmt.Sprintf("[TEST] klaxon-receiver send-test: channel %q reaches PagerDuty", n.Channel),
			Source:   "klaxon-receiver",
			Severity: "info",
			CustomDetails: map[string]any{
				"note": "This is a test event from klaxon-receiver send-test. Nothing is wrong; resolve it by hand.",
			},
		},
	}
}

// render executes one of the configured templates.
func (p *Notifier) render(field, text string, n *notify.Notification) (string, error) {
	out, err := p.tmpl.Execute(text, n)
	if err != nil {
		return "", fmt.Errorf("rendering %s: %w", field, err)
	}
	return strings.TrimSpace(out), nil
}

func (p *Notifier) severity(m *alert.Message) string {
	if s, ok := p.conf.Severity[m.Severity()]; ok {
		return s
	}
	return p.conf.DefaultSeverity
}

// firstStart is when the group's earliest firing alert started, or "".
func firstStart(m *alert.Message) string {
	var first time.Time
	for _, a := range m.Firing() {
		if first.IsZero() || a.StartsAt.Before(first) {
			first = a.StartsAt
		}
	}
	if first.IsZero() {
		return ""
	}
	return first.UTC().Format(time.RFC3339)
}

// links are each distinct runbook and Prometheus graph of the group,
// firing alerts first; empty hrefs are dropped.
func links(m *alert.Message) []Link {
	alerts := append(m.Firing(), m.Resolved()...)
	var out []Link
	seen := map[string]bool{}
	add := func(href, text string) {
		if href == "" || seen[href] {
			return
		}
		seen[href] = true
		out = append(out, Link{Href: href, Text: text})
	}
	for _, a := range alerts {
		add(a.Annotations["runbook_url"], "Runbook: "+a.Labels["alertname"])
	}
	for _, a := range alerts {
		add(a.GeneratorURL, "Graph: "+a.Labels["alertname"])
	}
	return out
}

func customDetails(m *alert.Message) map[string]any {
	alerts := make([]alertDetails, 0, len(m.Alerts))
	for _, a := range m.Alerts {
		alerts = append(alerts, alertDetails{Status: a.Status, Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt.UTC()})
	}
	d := map[string]any{
		"num_firing":    len(m.Firing()),
		"num_resolved":  len(m.Resolved()),
		"common_labels": m.CommonLabels,
		"alerts":        alerts,
	}
	if m.TruncatedAlerts > 0 {
		d["truncated_alerts"] = m.TruncatedAlerts
	}
	return d
}

// fit holds the 512 KB event cap the way Alertmanager does: custom_details
// are replaced by an explanation, and, should that not be enough, the
// links are dropped too.
func (p *Notifier) fit(ev *Event, n *notify.Notification) error {
	size, err := encodedSize(ev)
	if err != nil || size <= maxEventBytes || ev.Payload == nil {
		return err
	}
	p.logger.Warn("pagerduty event too large, custom details removed", "bytes", size, "limit", maxEventBytes)
	ev.Payload.CustomDetails = map[string]any{
		"error": fmt.Sprintf("The alert details were removed because the event (%d bytes) exceeded PagerDuty's limit of %d bytes. "+
			"See Alertmanager for the alerts.", size, maxEventBytes),
		"num_firing":   len(n.Message.Firing()),
		"num_resolved": len(n.Message.Resolved()),
	}
	if t := n.Message.TruncatedAlerts; t > 0 {
		ev.Payload.CustomDetails["truncated_alerts"] = t
	}
	if size, err = encodedSize(ev); err != nil || size <= maxEventBytes {
		return err
	}
	p.logger.Warn("pagerduty event still too large, links removed", "bytes", size, "limit", maxEventBytes)
	ev.Links = nil
	if size, err = encodedSize(ev); err != nil || size <= maxEventBytes {
		return err
	}
	return notify.Errorf(notify.ReasonInvalid, "event is %d bytes without details and links, over PagerDuty's limit of %d", size, maxEventBytes)
}

func encodedSize(ev *Event) (int, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return 0, notify.Errorf(notify.ReasonInvalid, "encoding event: %w", err)
	}
	return len(b), nil
}

// response is PagerDuty's answer, on success and on a 400.
type response struct {
	Status  string   `json:"status"`
	Message string   `json:"message"`
	Errors  []string `json:"errors"`
}

// checkStatus is notify.CheckStatus with PagerDuty's own error message,
// and a wait after 429 even though PagerDuty sends no Retry-After.
func checkStatus(resp *http.Response, body []byte) error {
	err := notify.CheckStatus(resp, body)
	var e *notify.Error
	if !errors.As(err, &e) {
		return err
	}
	var r response
	if json.Unmarshal(body, &r) == nil && r.Message != "" {
		reason := r.Message
		if len(r.Errors) > 0 {
			reason += ": " + strings.Join(r.Errors, "; ")
		}
		e.Err = fmt.Errorf("pagerduty answered %s: %s", resp.Status, notify.Excerpt([]byte(reason)))
	}
	if e.StatusCode == http.StatusTooManyRequests && e.RetryAfter < rateLimitWait {
		e.RetryAfter = rateLimitWait
	}
	return e
}

// Package opsgenie pages through Opsgenie's Alert API v2: one Opsgenie
// alert per incident (alias = the incident key), created while any alert
// of the group fires and closed when all are resolved.
package opsgenie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// Opsgenie's limits (Alert API, "Alerts and Alert Fields").
const (
	// maxMessage is the limit on message: 130 characters.
	maxMessage = 130
	// maxDescription is the limit on description: 15000 characters.
	maxDescription = 15000
	// maxTags and maxTagLength: at most 20 tags of 50 characters.
	maxTags      = 20
	maxTagLength = 50
	// maxDetails bounds the details' keys and values together: 8000
	// characters, the figure quoted for the Alert API.
	maxDetails = 8000
	// maxSource is the smaller of the two limits quoted for source (100
	// and 512 characters).
	maxSource = 100
	// maxLabelText bounds one label or annotation value in the default
	// description, so that one huge annotation cannot crowd out the other
	// alerts.
	maxLabelText = 1000
)

// DefaultLimit paces requests to one Opsgenie API key. Opsgenie meters its
// alert API per plan, per minute and per second ("Rate Limiting"), without
// numbers we could verify; one request a second with bursts of 10 is a
// conservative pace, and a 429 is retried after its Retry-After.
var DefaultLimit = notify.Limit{Every: time.Second, Burst: 10}

// createRequest is the body of POST /v2/alerts.
type createRequest struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description,omitempty"`
	Responders  []Responder       `json:"responders,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Source      string            `json:"source,omitempty"`
	Priority    string            `json:"priority,omitempty"`
}

// closeRequest is the body of POST /v2/alerts/{alias}/close.
type closeRequest struct {
	Source string `json:"source,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Notifier sends notifications to one Opsgenie API integration.
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
	o := &Notifier{conf: c, tmpl: opts.Template, client: opts.Client, logger: opts.Logger}
	if _, err := o.create(notify.SampleNotification()); err != nil {
		return nil, fmt.Errorf("checking opsgenie templates: %w", err)
	}
	return o, nil
}

// LatestOnly marks the notifier notify.LatestOnly: each request sets the
// state of the incident's alert, keyed by its alias, so of an incident's
// waiting notifications only the latest need go.
func (o *Notifier) LatestOnly() {}

// Notify creates the incident's alert, or closes it when n resolves it.
// Escalate and acknowledged notifications are skipped without a request:
// Opsgenie escalates and records acknowledgements by its own policies.
func (o *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	if n.Kind.Enveloped() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.conf.Timeout)
	defer cancel()
	key, err := o.conf.apiKey()
	if err != nil {
		return err
	}
	path, body, err := o.request(n)
	if err != nil {
		return err
	}
	if err := o.post(ctx, key, path, body); err != nil {
		return notify.Redact(err, key)
	}
	o.logger.Debug("opsgenie accepted request", "kind", n.Kind, "alias", n.IncidentKey)
	return nil
}

// request is the path and body for n's kind.
func (o *Notifier) request(n *notify.Notification) (string, any, error) {
	switch n.Kind {
	case notify.KindTest:
		return "/v2/alerts", o.test(n), nil
	case notify.KindResolve:
		note := "All alerts of the group resolved."
		if n.Message != nil {
			note = fmt.Sprintf("All %d alerts of the group resolved.", len(n.Message.Alerts))
		}
		path := "/v2/alerts/" + url.PathEscape(n.IncidentKey) + "/close?identifierType=alias"
		return path, &closeRequest{Source: o.conf.Source, Note: note}, nil
	case notify.KindTrigger:
		if n.Message == nil {
			return "", nil, notify.Errorf(notify.ReasonInvalid, "trigger notification %d has no alerts", n.ID)
		}
		req, err := o.create(n)
		return "/v2/alerts", req, err
	}
	return "", nil, notify.Errorf(notify.ReasonInvalid, "unknown notification kind %q", n.Kind)
}

func (o *Notifier) post(ctx context.Context, key, path string, body any) error {
	header := http.Header{"Authorization": {"GenieKey " + key}}
	resp, answer, err := notify.PostJSON(ctx, o.client, o.conf.baseURL()+path, header, body)
	if err != nil {
		return err
	}
	return checkStatus(resp, answer)
}

// create is the alert for a firing group.
func (o *Notifier) create(n *notify.Notification) (*createRequest, error) {
	m := n.Message
	subject, err := o.render("message", o.conf.Message, n)
	if err != nil {
		return nil, err
	}
	if subject == "" {
		subject = strings.Join(alertnames(m), " ")
	}
	description, err := o.description(n, subject)
	if err != nil {
		return nil, err
	}
	return &createRequest{
		Message:     o.truncate(n, "message", subject, maxMessage),
		Alias:       n.IncidentKey,
		Description: description,
		Responders:  o.conf.Responders,
		Tags:        o.tags(n),
		Details:     o.details(n),
		Source:      o.conf.Source,
		Priority:    o.priority(m),
	}, nil
}

// test is the alert of `klaxon-receiver send-test`: a clearly labelled P5
// alert for the configured responders, left open so that they see it.
func (o *Notifier) test(n *notify.Notification) *createRequest {
	return &createRequest{
		Message: "[TEST] klaxon-receiver send-test",
		Alias:   "klaxon-receiver-send-test-" + n.Channel,
		Description: fmt.Sprintf("This is a test alert from klaxon-receiver send-test for channel %q. "+
			"Nothing is wrong; close it by hand.", n.Channel),
		Responders: o.conf.Responders,
		Tags:       []string{"klaxon-receiver", "send-test"},
		Source:     o.conf.Source,
		Priority:   "P5",
	}
}

func (o *Notifier) render(field, text string, n *notify.Notification) (string, error) {
	out, err := o.tmpl.Execute(text, n)
	if err != nil {
		return "", fmt.Errorf("rendering %s: %w", field, err)
	}
	return strings.TrimSpace(out), nil
}

// truncate cuts s to limit runes, logging a warning when it does.
func (o *Notifier) truncate(n *notify.Notification, field, s string, limit int) string {
	out, cut := notify.Truncate(s, limit)
	if cut {
		o.logger.Warn("truncated opsgenie field", "field", field, "limit", limit)
	}
	return out
}

// description is the user's template, else the built-in alert list.
func (o *Notifier) description(n *notify.Notification, subject string) (string, error) {
	if o.conf.Description == "" {
		return o.truncate(n, "description", defaultDescription(n.Message, subject), maxDescription), nil
	}
	text, err := o.render("description", o.conf.Description, n)
	if err != nil {
		return "", err
	}
	return o.truncate(n, "description", text, maxDescription), nil
}

func (o *Notifier) priority(m *alert.Message) string {
	if p, ok := o.conf.Priorities[m.Severity()]; ok {
		return p
	}
	return o.conf.DefaultPriority
}

// tags are the configured tags, the alertnames, the severity and the
// common labels as name:value, at most maxTags of maxTagLength.
func (o *Notifier) tags(n *notify.Notification) []string {
	m := n.Message
	candidates := append([]string{}, o.conf.Tags...)
	candidates = append(candidates, alertnames(m)...)
	candidates = append(candidates, m.Severity())
	for _, name := range sortedKeys(m.CommonLabels) {
		if name != "alertname" && name != "severity" {
			candidates = append(candidates, name+":"+m.CommonLabels[name])
		}
	}
	var tags []string
	seen := map[string]bool{}
	for _, t := range candidates {
		t = o.truncate(n, "tags", strings.TrimSpace(t), maxTagLength)
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		tags = append(tags, t)
	}
	if len(tags) > maxTags {
		o.logger.Warn("dropped opsgenie tags over the limit", "dropped", len(tags)-maxTags, "limit", maxTags)
		tags = tags[:maxTags]
	}
	return tags
}

// details are the runbook links and the common labels, within
// maxDetails characters.
func (o *Notifier) details(n *notify.Notification) map[string]string {
	m := n.Message
	type entry struct{ k, v string }
	var entries []entry
	if runbooks := runbookURLs(m); len(runbooks) > 0 {
		entries = append(entries, entry{"runbook_url", strings.Join(runbooks, " ")})
	}
	for _, name := range sortedKeys(m.CommonLabels) {
		entries = append(entries, entry{name, m.CommonLabels[name]})
	}
	out := map[string]string{}
	used, dropped := 0, 0
	for _, e := range entries {
		size := len([]rune(e.k)) + len([]rune(e.v))
		if used+size > maxDetails {
			dropped++
			continue
		}
		out[e.k] = e.v
		used += size
	}
	if dropped > 0 {
		o.logger.Warn("dropped opsgenie details over the limit", "dropped", dropped, "limit", maxDetails)
	}
	return out
}

// response is Opsgenie's answer, on success and on error.
type response struct {
	Result    string `json:"result"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

// checkStatus is notify.CheckStatus with Opsgenie's own error message.
func checkStatus(resp *http.Response, body []byte) error {
	err := notify.CheckStatus(resp, body)
	var e *notify.Error
	if !errors.As(err, &e) {
		return err
	}
	var r response
	if json.Unmarshal(body, &r) == nil && r.Message != "" {
		reason := r.Message
		if r.RequestID != "" {
			reason += " (request " + r.RequestID + ")"
		}
		e.Err = fmt.Errorf("opsgenie answered %s: %s", resp.Status, notify.Excerpt([]byte(reason)))
	}
	return e
}

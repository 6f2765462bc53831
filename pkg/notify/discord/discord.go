// Package discord delivers notifications to a Discord channel through an
// incoming webhook: one embed per alert, coloured by status and severity,
// with labels as fields and the runbook as a link, and pings only for the
// roles and users the channel or escalation names.
package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// DefaultLimit is the pace for one webhook. Discord gives every webhook
// its own rate-limit bucket but documents no fixed numbers (clients are
// told to read the X-RateLimit-* headers); the commonly observed bucket
// is 5 requests per 2 seconds, and 30 messages per minute per channel.
// Four at once, then one every 2 seconds, stays under both.
var DefaultLimit = notify.Limit{Every: 2 * time.Second, Burst: 4}

// Notifier posts to one Discord webhook.
type Notifier struct {
	conf   *Config
	tmpl   *notify.Template
	client *http.Client
	logger *slog.Logger
}

// New checks c's templates and returns its notifier. Options left empty
// get a plain HTTP client, Alertmanager's default templates and no logs.
func New(c *Config, opts notify.Options) (*Notifier, error) {
	opts, err := opts.WithDefaults()
	if err != nil {
		return nil, err
	}
	n := &Notifier{conf: c, tmpl: opts.Template, client: opts.Client, logger: opts.Logger}
	sample := sampleNotification()
	for name, text := range map[string]string{"title": c.Title, "description": c.Description} {
		if _, err := n.tmpl.Execute(text, sample); err != nil {
			return nil, fmt.Errorf("discord %s template: %w", name, err)
		}
	}
	return n, nil
}

// sampleNotification is what templates are tried on at start-up.
func sampleNotification() *notify.Notification {
	a := alert.Alert{
		Status:      alert.StatusFiring,
		Labels:      map[string]string{"alertname": "Sample", "severity": "critical"},
		Annotations: map[string]string{"summary": "sample", "runbook_url": "https://example.com/runbook"},
		Fingerprint: "0",
	}
	return &notify.Notification{Kind: notify.KindTrigger, Route: "sample", Message: &alert.Message{
		Version: "4", GroupKey: "{}", Status: alert.StatusFiring, Alerts: []alert.Alert{a},
		GroupLabels: map[string]string{"alertname": "Sample"}, CommonLabels: a.Labels, CommonAnnotations: a.Annotations,
	}}
}

var _ notify.Chat = (*Notifier)(nil)

// Mentions lists users' and groups' IDs as Notification.Mentions takes
// them.
func (n *Notifier) Mentions(users, groups []string) []string { return mentionTokens(users, groups) }

// Notify posts nt to the webhook and waits for Discord's answer.
func (n *Notifier) Notify(ctx context.Context, nt *notify.Notification) error {
	msg, err := n.build(nt)
	if err != nil {
		return err
	}
	return n.post(ctx, msg)
}

// post sends msg to the webhook and reads Discord's answer.
func (n *Notifier) post(ctx context.Context, msg *message) error {
	target, err := n.webhookURL()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, n.conf.Timeout,
		fmt.Errorf("configured discord timeout of %s reached", n.conf.Timeout))
	defer cancel()
	resp, body, err := notify.PostJSON(ctx, n.client, target, nil, msg)
	if err != nil {
		return withCause(ctx, fmt.Errorf("posting to discord: %w", err))
	}
	return check(resp, body)
}

// webhookURL reads the webhook, from the file on every call, and asks
// Discord to wait for the message so that errors come back. A missing or
// unreadable file is retried: it may be in the middle of a rotation.
func (n *Notifier) webhookURL() (string, error) {
	raw, err := notify.ReadSecret(n.conf.WebhookURL, n.conf.WebhookURLFile)
	if err != nil {
		return "", &notify.Error{Retry: true, Reason: notify.ReasonInvalid, Err: fmt.Errorf("reading webhook_url_file: %w", err)}
	}
	key := "webhook_url"
	if n.conf.WebhookURLFile != "" {
		key = "webhook_url_file: the URL"
	}
	u, err := parseWebhookURL(raw)
	if err != nil {
		return "", &notify.Error{Retry: true, Reason: notify.ReasonInvalid, Err: fmt.Errorf("%s %w", key, err)}
	}
	q := u.Query()
	q.Set("wait", "true")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// withCause marks a request that ran out of time as a timeout and
// appends why ctx ended, such as the configured timeout, to its error.
// (net/http reports the cause of a WithTimeoutCause deadline instead of
// context.DeadlineExceeded, so notify.PostJSON sees a network error.)
func withCause(ctx context.Context, err error) error {
	var e *notify.Error
	if ctx.Err() == nil || !errors.As(err, &e) {
		return err
	}
	out := *e
	out.Err = err
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		out.Reason = notify.ReasonTimeout
	}
	if cause := context.Cause(ctx); !strings.Contains(err.Error(), cause.Error()) {
		out.Err = fmt.Errorf("%w (%w)", err, cause)
	}
	return &out
}

// apiError is Discord's JSON error body.
type apiError struct {
	Code       int             `json:"code"`
	Message    string          `json:"message"`
	Errors     json.RawMessage `json:"errors"`
	RetryAfter float64         `json:"retry_after"`
	Global     bool            `json:"global"`
}

// check classifies Discord's answer as notify.CheckStatus does, with
// Discord's own reason in the error and its retry_after, which is more
// precise than the Retry-After header, as the wait. 404 (unknown webhook,
// 10015) is permanent: Discord restricts clients that keep using a deleted
// webhook.
func check(resp *http.Response, body []byte) error {
	err := notify.CheckStatus(resp, body)
	var e *notify.Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	reason := notify.Excerpt(body)
	var ae apiError
	if json.Unmarshal(body, &ae) == nil && (ae.Message != "" || ae.Code != 0) {
		reason = ae.describe()
		if e.StatusCode == http.StatusTooManyRequests && ae.RetryAfter > 0 {
			e.RetryAfter = time.Duration(ae.RetryAfter * float64(time.Second))
		}
	}
	e.Err = fmt.Errorf("discord answered %s: %s", resp.Status, reason)
	return e
}

// maxErrorDetails bounds how many field errors of a 50035 are quoted.
const maxErrorDetails = 5

func (ae *apiError) describe() string {
	s := fmt.Sprintf("%s (code %d)", ae.Message, ae.Code)
	if ae.RetryAfter > 0 {
		s += fmt.Sprintf(", retry after %gs", ae.RetryAfter)
		if ae.Global {
			s += " (global limit)"
		}
	}
	var tree any
	if len(ae.Errors) == 0 || json.Unmarshal(ae.Errors, &tree) != nil {
		return s
	}
	details := fieldErrors("", tree)
	if len(details) > maxErrorDetails {
		details = append(details[:maxErrorDetails], fmt.Sprintf("and %d more", len(details)-maxErrorDetails))
	}
	if len(details) > 0 {
		s += ": " + strings.Join(details, "; ")
	}
	return s
}

// fieldErrors flattens Discord's nested "errors" object into
// "embeds.0.description: Must be 4096 or fewer in length." lines.
func fieldErrors(path string, tree any) []string {
	obj, ok := tree.(map[string]any)
	if !ok {
		return nil
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if k != "_errors" {
			out = append(out, fieldErrors(strings.TrimPrefix(path+"."+k, "."), obj[k])...)
			continue
		}
		list, _ := obj[k].([]any)
		for _, item := range list {
			if m, ok := item.(map[string]any); ok {
				out = append(out, fmt.Sprintf("%s: %v", path, m["message"]))
			}
		}
	}
	return out
}

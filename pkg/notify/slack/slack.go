// Package slack posts klaxon-receiver's notifications to Slack incoming
// webhooks: one message per change of an alert group, with one attachment
// coloured by severity and status that lists the alerts with their
// summaries, descriptions, labels and runbook links, and with the people
// to notify mentioned in the message text.
//
// Text that comes from alerts is escaped as Slack asks (& < > only) before
// any link, date or mention is added, so that an alert cannot notify
// anyone by carrying <!channel> or <@U…> in a label or annotation.
package slack

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

// DefaultLimit is Slack's rate limit for posting messages, which covers
// incoming webhooks: about one message per second, with short bursts
// tolerated (api.slack.com "Rate Limits").
var DefaultLimit = notify.Limit{Every: time.Second, Burst: 2}

// Colours of the attachment: Slack's own red, yellow and green, and grey.
const (
	colorCritical = "#E01E5A"
	colorWarning  = "#ECB22E"
	colorResolved = "#2EB67D"
	colorOther    = "#9E9EA6"
)

// defaultTitle is the attachment's title when the config sets none:
// Alertmanager's subject, such as "[FIRING:2] HighErrorRate (critical)".
const defaultTitle = `{{ template "__subject" . }}`

// testTitle labels the message of `klaxon-receiver send-test`.
const testTitle = "klaxon-receiver send-test"

// Notifier posts notifications to one Slack incoming webhook.
type Notifier struct {
	conf   *Config
	tmpl   *notify.Template
	client *http.Client
	logger *slog.Logger
}

// New returns a Notifier for c. It fails when the title or text template
// of c cannot be rendered.
func New(c *Config, opts notify.Options) (*Notifier, error) {
	opts, err := opts.WithDefaults()
	if err != nil {
		return nil, err
	}
	s := &Notifier{conf: c, tmpl: opts.Template, client: opts.Client, logger: opts.Logger}
	if err := s.checkTemplates(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkTemplates renders the configured templates once, so that a broken
// template fails at load time rather than at the first page.
func (s *Notifier) checkTemplates() error {
	n := sampleNotification()
	if _, err := s.tmpl.Execute(s.conf.Title, n); err != nil {
		return fmt.Errorf("slack title: %w", err)
	}
	if _, err := s.tmpl.Execute(s.conf.Text, n); err != nil {
		return fmt.Errorf("slack text: %w", err)
	}
	return nil
}

func sampleNotification() *notify.Notification {
	labels := map[string]string{"alertname": "Sample", "severity": "critical"}
	return &notify.Notification{Kind: notify.KindTrigger, Message: &alert.Message{
		Version: "4", GroupKey: "{}:{}", Status: alert.StatusFiring, Receiver: "sample",
		GroupLabels: map[string]string{"alertname": "Sample"}, CommonLabels: labels,
		Alerts: []alert.Alert{{Status: alert.StatusFiring, Labels: labels, Fingerprint: "0000000000000000"}},
	}}
}

var _ notify.Chat = (*Notifier)(nil)

// Mentions lists users' and groups' IDs as Notification.Mentions takes
// them.
func (s *Notifier) Mentions(users, groups []string) []string { return mentionIDs(users, groups) }

// Notify posts n to the webhook. Errors are *notify.Error: 429, 5xx and
// transport failures are retryable, with Slack's Retry-After; every other
// answer is permanent and carries Slack's error string.
func (s *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	msg, err := s.build(n)
	if err != nil {
		return err
	}
	return s.post(ctx, msg)
}

// post sends msg to the webhook and reads Slack's answer.
func (s *Notifier) post(ctx context.Context, msg *message) error {
	webhook, err := s.webhookURL()
	if err != nil {
		return err
	}
	// The client reports the cause, which still reads as a deadline.
	ctx, cancel := context.WithTimeoutCause(ctx, s.conf.Timeout,
		fmt.Errorf("slack timeout of %s reached: %w", s.conf.Timeout, context.DeadlineExceeded))
	defer cancel()
	resp, body, err := notify.PostJSON(ctx, s.client, webhook, nil, msg)
	if err != nil {
		return fmt.Errorf("posting to slack: %w", err)
	}
	return checkAnswer(resp, body)
}

// webhookURL returns the configured URL, reading webhook_url_file afresh.
// Neither its errors nor anything else may quote the URL. A file that is
// missing or wrong may be in the middle of a rotation: that is retried, as
// every integration does, rather than turning pages into dead letters.
func (s *Notifier) webhookURL() (string, error) {
	raw, err := notify.ReadSecret(s.conf.WebhookURL, s.conf.WebhookURLFile)
	if err != nil {
		return "", retryable(fmt.Errorf("reading slack webhook_url_file: %w", err))
	}
	if s.conf.WebhookURLFile == "" {
		return raw, nil
	}
	if err := checkWebhookURL(raw); err != nil {
		return "", retryable(fmt.Errorf("slack webhook_url_file %s: %w", s.conf.WebhookURLFile, err))
	}
	return raw, nil
}

func retryable(err error) error {
	return &notify.Error{Retry: true, Reason: notify.ReasonInvalid, Err: err}
}

// authErrors are Slack's answers that mean the webhook itself is gone or
// revoked, whatever status comes with them.
var authErrors = map[string]bool{
	"invalid_token": true, "no_service": true, "no_service_id": true,
	"no_team": true, "team_disabled": true, "no_active_hooks": true,
}

// checkAnswer classifies Slack's answer: 200 "ok" is success, anything else
// an error carrying Slack's plain-text reason.
func checkAnswer(resp *http.Response, body []byte) error {
	if err := notify.CheckStatus(resp, body); err != nil {
		var e *notify.Error
		if errors.As(err, &e) {
			if e.Retry && e.RetryAfter == 0 {
				e.RetryAfter = bodyRetryAfter(body)
			}
			if !e.Retry && authErrors[strings.TrimSpace(string(body))] {
				e.Reason = notify.ReasonAuthError
			}
		}
		return fmt.Errorf("posting to slack: %w", err)
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return notify.Errorf(notify.ReasonClientError, "posting to slack: upstream answered %s with %q instead of \"ok\"",
			resp.Status, notify.Excerpt(body))
	}
	return nil
}

// bodyRetryAfter reads the retry_after of a JSON rate-limit answer, for a
// 429 that came without a Retry-After header.
func bodyRetryAfter(body []byte) time.Duration {
	var answer struct {
		RetryAfter float64 `json:"retry_after"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.RetryAfter <= 0 {
		return 0
	}
	return time.Duration(answer.RetryAfter * float64(time.Second))
}

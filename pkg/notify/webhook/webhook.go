// Package webhook is the generic outgoing webhook channel: each trigger,
// resolve and test notification is one HTTP request to a configured URL,
// its body a template in Alertmanager's language (by default
// Alertmanager's own webhook payload with Klaxon's fields), for endpoints
// that no other integration covers: heartbeat monitors, Mattermost,
// Microsoft Teams workflows, in-house tools.
//
// It is not a chat (escalate and acknowledged notifications do not reach
// it), not a notify.Digester (each notification is its own request) and
// not notify.LatestOnly (each state is sent, in order).
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/klaxonhq/klaxon/pkg/notify"
)

// Notifier sends notifications to one webhook.
type Notifier struct {
	conf   *Config
	tmpl   *notify.Template
	client *http.Client
	logger *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New checks c's templates against a sample notification, and one whose
// labels hold quotes, backslashes and newlines, and returns its notifier.
// A JSON content type whose body does not render to JSON is an error.
func New(c *Config, opts notify.Options) (*Notifier, error) {
	opts, err := opts.WithDefaults()
	if err != nil {
		return nil, err
	}
	// Redirects are not followed: a POST would turn into a GET without
	// its body, and the headers' secrets would go to another host.
	client := *opts.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w := &Notifier{conf: c, tmpl: opts.Template, client: &client, logger: opts.Logger}
	for _, n := range []*notify.Notification{notify.SampleNotification(), hostile()} {
		if _, err := w.body(n); err != nil {
			return nil, fmt.Errorf("checking webhook templates: %w", err)
		}
		if _, err := w.suffix(n); err != nil {
			return nil, fmt.Errorf("checking webhook templates: %w", err)
		}
	}
	if c.URL != "" {
		if _, err := w.target(string(c.URL), notify.SampleNotification()); err != nil {
			return nil, fmt.Errorf("checking webhook templates: %w", err)
		}
	}
	return w, nil
}

// Notify sends n's request. Escalate and acknowledged notifications are
// skipped without a request: the receiver sends them to chat channels
// only, and this is none.
func (w *Notifier) Notify(ctx context.Context, n *notify.Notification) error {
	if n.Kind.Enveloped() {
		return nil
	}
	if n.Message == nil {
		return notify.Errorf(notify.ReasonInvalid, "%s notification %d has no alerts", n.Kind, n.ID)
	}
	req, secrets, err := w.request(n)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, w.conf.Timeout,
		fmt.Errorf("webhook timeout of %s reached: %w", w.conf.Timeout, context.DeadlineExceeded))
	defer cancel()
	if err := w.send(ctx, req.WithContext(ctx)); err != nil {
		return redact(fmt.Errorf("posting to webhook: %w", err), secrets)
	}
	w.logger.Debug("webhook accepted request", "kind", n.Kind, "incident", n.IncidentKey)
	return nil
}

// request builds n's request, and lists the secrets it holds, for errors
// to leave out.
func (w *Notifier) request(n *notify.Notification) (*http.Request, []string, error) {
	body, err := w.body(n)
	if err != nil {
		return nil, nil, err
	}
	raw, err := w.conf.url()
	if err != nil {
		return nil, nil, err
	}
	secrets := urlSecrets(raw)
	target, err := w.target(raw, n)
	if err != nil {
		return nil, nil, err
	}
	header, values, err := w.conf.header()
	if err != nil {
		return nil, nil, err
	}
	secrets = append(secrets, values...)
	req, err := http.NewRequest(w.conf.Method, target, bytes.NewReader(body))
	if err != nil {
		return nil, nil, redact(notify.Errorf(notify.ReasonInvalid, "building request: %w", notify.RedactURL(err)), secrets)
	}
	req.Header = header
	return req, secrets, nil
}

// body renders the body, checking that a JSON one is JSON.
func (w *Notifier) body(n *notify.Notification) ([]byte, error) {
	text := w.conf.Body
	if text == "" {
		text = DefaultBody
	}
	out, err := w.tmpl.ExecuteData(text, NewData(n))
	if err != nil {
		return nil, fmt.Errorf("rendering body: %w", err)
	}
	if isJSON(w.conf.ContentType) && !json.Valid([]byte(out)) {
		return nil, notify.Errorf(notify.ReasonInvalid, "rendering body: content_type is %s, but the body is not valid JSON "+
			"(interpolate values with toJson, as in {{ toJson .CommonLabels.alertname }}): %s",
			w.conf.ContentType, jsonProblem(out))
	}
	return []byte(out), nil
}

// jsonProblem says where JSON text goes wrong.
func jsonProblem(text string) string {
	var v any
	err := json.Unmarshal([]byte(text), &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at byte %d", se, se.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "invalid JSON"
}

// suffix renders url_suffix.
func (w *Notifier) suffix(n *notify.Notification) (string, error) {
	out, err := w.tmpl.ExecuteData(w.conf.URLSuffix, NewData(n))
	if err != nil {
		return "", fmt.Errorf("rendering url_suffix: %w", err)
	}
	return strings.TrimSpace(out), nil
}

// target is the URL with n's url_suffix, which must still be an
// absolute http or https URL.
func (w *Notifier) target(raw string, n *notify.Notification) (string, error) {
	suffix, err := w.suffix(n)
	if err != nil {
		return "", err
	}
	if suffix == "" {
		return raw, nil
	}
	if err := checkURL(raw + suffix); err != nil {
		return "", notify.Errorf(notify.ReasonInvalid, "url with url_suffix %q: %v", suffix, err)
	}
	return raw + suffix, nil
}

// send makes the request and classifies the answer: 2xx is success; 408,
// 429 and 5xx are retried, after any Retry-After; any other status,
// redirects included, is permanent.
func (w *Notifier) send(ctx context.Context, req *http.Request) error {
	resp, answer, err := notify.Do(ctx, w.client, req)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return &notify.Error{StatusCode: resp.StatusCode, Reason: notify.ReasonClientError,
			Err: fmt.Errorf("upstream answered %s, a redirect, which is not followed: configure the URL it redirects to", resp.Status)}
	}
	return notify.CheckStatus(resp, answer)
}

// url is the configured URL, reading url_file afresh. A file that is
// missing, empty or wrong may be in the middle of a rotation: that is
// retried, as every integration does, rather than dropping the message.
// Neither its errors nor anything else may quote the URL.
func (c *Config) url() (string, error) {
	raw, err := notify.ReadSecret(c.URL, c.URLFile)
	if err != nil {
		return "", retryable(fmt.Errorf("reading webhook url_file: %w", err))
	}
	if c.URLFile == "" {
		return raw, nil
	}
	if raw == "" {
		return "", retryable(fmt.Errorf("webhook url_file %s is empty", c.URLFile))
	}
	if err := checkURL(raw); err != nil {
		return "", retryable(fmt.Errorf("webhook url_file %s: %w", c.URLFile, err))
	}
	return raw, nil
}

// header is the request's headers, reading each value_file afresh, and
// the configured values, which may be secrets.
func (c *Config) header() (http.Header, []string, error) {
	h := http.Header{"Content-Type": {c.ContentType}, "User-Agent": {"klaxon-receiver"}}
	var values []string
	for name, v := range c.Headers {
		value, err := notify.ReadSecret(v.Value, v.ValueFile)
		switch {
		case err != nil:
			return nil, nil, retryable(fmt.Errorf("reading webhook header %s value_file: %w", name, err))
		case v.ValueFile != "" && value == "":
			return nil, nil, retryable(fmt.Errorf("webhook header %s: value_file %s is empty", name, v.ValueFile))
		case !validHeaderValue(value):
			return nil, nil, retryable(fmt.Errorf("webhook header %s: value_file %s holds a control character, such as a newline", name, v.ValueFile))
		}
		h.Set(name, value)
		values = append(values, value)
	}
	return h, values, nil
}

func retryable(err error) error {
	return &notify.Error{Retry: true, Reason: notify.ReasonInvalid, Err: err}
}

// urlSecrets are the parts of a URL that may be secret, longest first:
// the URL itself, its path and query, and its user info.
func urlSecrets(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	if p := u.RequestURI(); p != "/" {
		out = append(out, p, u.EscapedPath(), u.Path, u.RawQuery)
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		out = append(out, u.User.String(), u.User.Username(), pw)
	}
	return out
}

// redact removes each secret from err's text, keeping its
// classification. Secrets shorter than four characters are left: they
// would blank out ordinary words.
func redact(err error, secrets []string) error {
	secrets = slices.DeleteFunc(slices.Clone(secrets), func(s string) bool { return len(s) < 4 })
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		err = notify.Redact(err, s)
	}
	return err
}

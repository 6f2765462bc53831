package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
)

var (
	startsAt  = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	endsAt    = startsAt.Add(17 * time.Minute)
	createdAt = startsAt.Add(30 * time.Second)
)

// newFake starts a fake Slack without a rate limit; a test that means to
// hit one sets it.
func newFake(t *testing.T) (*slacktest.Server, string) {
	t.Helper()
	s := slacktest.NewServer()
	t.Cleanup(s.Close)
	s.SetRateLimit(0, 0)
	return s, s.NewWebhook()
}

// newNotifier decodes the config "webhook_url: <hook>" plus extra.
func newNotifier(t *testing.T, hook, extra string, logger *slog.Logger) *Notifier {
	t.Helper()
	c := decodeConfig(t, fmt.Sprintf("webhook_url: %q\n%s", hook, extra))
	tmpl, err := notify.NewTemplate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if logger == nil {
		logger = promslog.NewNopLogger()
	}
	n, err := New(c, notify.Options{Template: tmpl, Client: &http.Client{}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func errorRateAlert(instance, status string) alert.Alert {
	a := alert.Alert{
		Status: status,
		Labels: map[string]string{
			"alertname": "HighErrorRate", "severity": "critical", "job": "api", "instance": instance,
		},
		Annotations: map[string]string{
			"summary":     "api answers 5% or more of its requests with a server error",
			"description": "7.3% of the HTTP requests to api got a 5xx answer over the last 5 minutes (critical from 5%).",
			"runbook_url": "https://runbooks.example.com/higherrorrate?from=slack&view=full",
		},
		StartsAt:     startsAt,
		GeneratorURL: "http://prometheus.example.com:9090/graph?g0.expr=job%3Ahttp_requests%3Aerror_ratio_rate5m+%3E%3D+0.05&g0.tab=1",
		Fingerprint:  fmt.Sprintf("%016x", crc32.ChecksumIEEE([]byte(instance))),
	}
	if status == alert.StatusResolved {
		a.EndsAt = endsAt
	}
	return a
}

func notification(kind notify.Kind, status string, alerts ...alert.Alert) *notify.Notification {
	common := map[string]string{"alertname": "HighErrorRate", "severity": "critical", "job": "api"}
	m := &alert.Message{
		Version:           "4",
		GroupKey:          `{}/{severity="critical"}:{alertname="HighErrorRate"}`,
		Status:            status,
		Receiver:          "klaxon-critical",
		GroupLabels:       map[string]string{"alertname": "HighErrorRate"},
		CommonLabels:      common,
		CommonAnnotations: map[string]string{},
		ExternalURL:       "http://alertmanager.example.com:9093",
		Alerts:            alerts,
	}
	return &notify.Notification{
		ID: 42, Channel: "ops-slack", Route: "api-oncall",
		IncidentKey: alert.IncidentKey("api-oncall", m.GroupKey),
		Kind:        kind, Message: m, CreatedAt: createdAt,
	}
}

func firingTwo() *notify.Notification {
	return notification(notify.KindTrigger, alert.StatusFiring,
		errorRateAlert("api-1:8080", alert.StatusFiring), errorRateAlert("api-22:8080", alert.StatusFiring))
}

func resolvedTwo() *notify.Notification {
	return notification(notify.KindResolve, alert.StatusResolved,
		errorRateAlert("api-1:8080", alert.StatusResolved), errorRateAlert("api-22:8080", alert.StatusResolved))
}

func mixed() *notify.Notification {
	n := notification(notify.KindTrigger, alert.StatusFiring,
		errorRateAlert("api-1:8080", alert.StatusFiring), errorRateAlert("api-22:8080", alert.StatusResolved))
	for _, a := range n.Message.Alerts {
		a.Labels["severity"] = "warning"
	}
	n.Message.CommonLabels["severity"] = "warning"
	return n
}

// sixty is a group of 60 alerts with very long annotations and many
// labels.
func sixty() *notify.Notification {
	var alerts []alert.Alert
	for i := range 60 {
		a := errorRateAlert(fmt.Sprintf("api-%02d:8080", i), alert.StatusFiring)
		a.Fingerprint = fmt.Sprintf("%016x", i+1)
		a.Annotations["summary"] = strings.Repeat("The summary & <more> of it. ", 40)
		a.Annotations["description"] = strings.Repeat("A very long description, line after line. ", 200)
		for j := range 14 {
			a.Labels[fmt.Sprintf("extra_%02d", j)] = strings.Repeat("v", 300)
		}
		alerts = append(alerts, a)
	}
	n := notification(notify.KindTrigger, alert.StatusFiring, alerts...)
	n.Message.TruncatedAlerts = 5
	return n
}

// hostileText tries every way to notify people or break the markup.
const hostileText = "@everyone @here <!channel> <!here|here> <!subteam^S0123ABCD> <@&123> <@456> <@U0123ABCD> &amp; &<> *bold* _it_ ~s~ `code` ```block``` > quote <https://evil.example.com|click>"

func hostile() *notify.Notification {
	a := errorRateAlert("api-1:8080", alert.StatusFiring)
	a.Labels["alertname"] = "Deploy <!channel>"
	a.Labels["team"] = hostileText
	a.Annotations["summary"] = hostileText
	a.Annotations["description"] = hostileText + "\n" + hostileText
	a.Annotations["value"] = "<@U0123ABCD>"
	a.Annotations["runbook_url"] = "https://runbooks.example.com/x|<!channel>>"
	a.GeneratorURL = "<!everyone>"
	n := notification(notify.KindTrigger, alert.StatusFiring, a)
	n.Message.GroupLabels = map[string]string{"alertname": a.Labels["alertname"]}
	n.Message.CommonLabels = a.Labels
	n.Message.CommonAnnotations = a.Annotations
	n.Message.Receiver = "<!channel>"
	n.Route = "<@U0123ABCD>"
	return n
}

// golden compares the body, decoded and encoded again with sorted keys
// and an indent, with testdata/<name>.json.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, filepath.Join("testdata", name+".json"), out.Bytes())
}

// send delivers n through a notifier configured with extra and returns
// what the fake accepted.
func send(t *testing.T, extra string, n *notify.Notification, logger *slog.Logger) slacktest.Request {
	t.Helper()
	fake, hook := newFake(t)
	if err := newNotifier(t, hook, extra, logger).Notify(context.Background(), n); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := fake.Received()
	if len(got) != 1 {
		t.Fatalf("the fake accepted %d posts, want 1", len(got))
	}
	return got[0]
}

const mentionsConfig = `channel: "#ops"
icon_emoji: ":rotating_light:"
mentions:
  critical: [S0123ABCD, U012AB3CD]
  warning: [here]
`

func TestGolden(t *testing.T) {
	userTemplate := `title: '{{ .CommonLabels.alertname }} on {{ .CommonLabels.job }} ({{ .Alerts.Firing | len }} firing)'
text: |-
  {{ range .Alerts }}• {{ .Labels.instance }}: {{ .Annotations.summary }} <{{ .Annotations.runbook_url }}|runbook>
  {{ end }}`
	withEscalation := firingTwo()
	withEscalation.Mentions = []string{"W0456DEFG", "U012AB3CD", "not-an-id"}
	hostileTemplated := hostile()
	for _, tc := range []struct {
		name, config string
		n            *notify.Notification
		mentions     []string
	}{
		{"firing", mentionsConfig, withEscalation,
			[]string{"<!subteam^S0123ABCD>", "<@U012AB3CD>", "<@W0456DEFG>"}},
		{"resolved", mentionsConfig, resolvedTwo(), nil},
		{"mixed", mentionsConfig, mixed(), []string{"<!here>"}},
		{"sixty", "", sixty(), nil},
		{"hostile", "", hostile(), nil},
		{"hostile-mentioned", mentionsConfig, hostile(), []string{"<!subteam^S0123ABCD>", "<@U012AB3CD>"}},
		{"template", userTemplate, firingTwo(), nil},
		{"template-hostile", userTemplate, hostileTemplated, nil},
		{"send-test", mentionsConfig, &notify.Notification{Channel: "ops-slack", Kind: notify.KindTest, CreatedAt: createdAt}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := send(t, tc.config, tc.n, nil)
			golden(t, tc.name, req.Body)
			if diff := cmp.Diff(tc.mentions, req.Mentions); diff != "" {
				t.Errorf("mentions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLimitsHeld(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	req := send(t, "max_alerts: 60\n", sixty(), logger)
	text := req.Message.Attachments[0].Text
	if n := utf8.RuneCountInString(text); n > maxAttachmentText {
		t.Errorf("attachment text has %d runes, more than %d", n, maxAttachmentText)
	}
	shown := strings.Count(text, "*HighErrorRate*")
	if want := fmt.Sprintf("_and %d more_", 65-shown); !strings.HasSuffix(text, want) || shown == 0 {
		t.Errorf("attachment text lists %d alerts and ends %q, want the rest counted as %q",
			shown, text[max(0, len(text)-40):], want)
	}
	for _, want := range []string{"level=WARN", "shortened a slack message", "alert list", "description", "summary", "labels"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestOneHugeAlert: an alert whose text alone overflows the list is cut
// without breaking an escape or a link.
func TestOneHugeAlert(t *testing.T) {
	a := errorRateAlert("api-1:8080", alert.StatusFiring)
	a.Labels["alertname"] = strings.Repeat("&", 1000)
	a.Annotations["summary"] = strings.Repeat("&", 1000)
	a.Annotations["value"] = strings.Repeat("&", 1000)
	a.Annotations["description"] = strings.Repeat("&", 5000)
	for j := range 20 {
		a.Labels[fmt.Sprintf("l%02d_%s", j, strings.Repeat("x", 200))] = strings.Repeat("<>", 500)
	}
	req := send(t, "", notification(notify.KindTrigger, alert.StatusFiring, a), nil)
	text := req.Message.Attachments[0].Text
	if n := utf8.RuneCountInString(text); n > maxAttachmentText {
		t.Errorf("attachment text has %d runes, more than %d", n, maxAttachmentText)
	}
	if !strings.HasSuffix(text, "…") {
		t.Errorf("attachment text does not end in …: %q", text[max(0, len(text)-40):])
	}
	rest := escapeRE.ReplaceAllString(text, "")
	if strings.ContainsAny(rest, "&<>") {
		t.Errorf("attachment text has a broken escape or link: %q", rest)
	}
}

// escapeRE matches the escapes and control sequences Slack reads.
var escapeRE = regexp.MustCompile(`&(?:amp|lt|gt);|<[^<>]*>`)

func TestTruncateMrkdwn(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 5, "abcd…"},
		{"see <https://example.com/a|Runbook> now", 20, "see …"},
		{"a &amp; b", 4, "a …"},
		{"a &amp; b", 8, "a &amp;…"},
		{"<@U012AB3CD> hi", 8, "…"},
		{"ééééé", 3, "éé…"},
	} {
		got, cut := truncateMrkdwn(tc.in, tc.n)
		if got != tc.want || cut != (got != tc.in) {
			t.Errorf("truncateMrkdwn(%q, %d) = %q, %v; want %q", tc.in, tc.n, got, cut, tc.want)
		}
	}
}

func TestRetryClassification(t *testing.T) {
	type outcome struct {
		Err        string
		Retry      bool
		RetryAfter time.Duration
		Reason     string
	}
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		retryAfter time.Duration
		want       outcome
	}{
		{"200 ok", 200, "ok", 0, outcome{}},
		{"202 ok", 202, "ok", 0, outcome{}},
		{"200 not ok", 200, `{"ok":false,"error":"invalid_blocks"}`, 0, outcome{
			`posting to slack: upstream answered 200 OK with "{\"ok\":false,\"error\":\"invalid_blocks\"}" instead of "ok"`, false, 0, "clientError"}},
		{"400 invalid_payload", 400, "invalid_payload", 0, outcome{
			"posting to slack: upstream answered 400 Bad Request: invalid_payload", false, 0, "clientError"}},
		{"400 no_text", 400, "no_text", 0, outcome{
			"posting to slack: upstream answered 400 Bad Request: no_text", false, 0, "clientError"}},
		{"400 no_service_id", 400, "no_service_id", 0, outcome{
			"posting to slack: upstream answered 400 Bad Request: no_service_id", false, 0, "authError"}},
		{"401", 401, "invalid_auth", 0, outcome{
			"posting to slack: upstream answered 401 Unauthorized: invalid_auth", false, 0, "authError"}},
		{"403 invalid_token", 403, "invalid_token", 0, outcome{
			"posting to slack: upstream answered 403 Forbidden: invalid_token", false, 0, "authError"}},
		{"403 action_prohibited", 403, "action_prohibited", 0, outcome{
			"posting to slack: upstream answered 403 Forbidden: action_prohibited", false, 0, "authError"}},
		{"403 posting_to_general_channel_denied", 403, "posting_to_general_channel_denied", 0, outcome{
			"posting to slack: upstream answered 403 Forbidden: posting_to_general_channel_denied", false, 0, "authError"}},
		{"404 channel_not_found", 404, "channel_not_found", 0, outcome{
			"posting to slack: upstream answered 404 Not Found: channel_not_found", false, 0, "clientError"}},
		{"404 no_service", 404, "no_service", 0, outcome{
			"posting to slack: upstream answered 404 Not Found: no_service", false, 0, "authError"}},
		{"410 channel_is_archived", 410, "channel_is_archived", 0, outcome{
			"posting to slack: upstream answered 410 Gone: channel_is_archived", false, 0, "clientError"}},
		{"429 with Retry-After", 429, "rate_limited", 7 * time.Second, outcome{
			"posting to slack: upstream answered 429 Too Many Requests: rate_limited", true, 7 * time.Second, "rateLimited"}},
		{"429 with retry_after in the body", 429, `{"retry_after":3,"ok":false,"error":"rate_limited"}`, 0, outcome{
			`posting to slack: upstream answered 429 Too Many Requests: {"retry_after":3,"ok":false,"error":"rate_limited"}`, true, 3 * time.Second, "rateLimited"}},
		{"500 rollup_error", 500, "rollup_error", 0, outcome{
			"posting to slack: upstream answered 500 Internal Server Error: rollup_error", true, 0, "serverError"}},
		{"502", 502, "", 0, outcome{
			"posting to slack: upstream answered 502 Bad Gateway: (empty answer)", true, 0, "serverError"}},
		{"503 with Retry-After", 503, "service unavailable", 30 * time.Second, outcome{
			"posting to slack: upstream answered 503 Service Unavailable: service unavailable", true, 30 * time.Second, "serverError"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, hook := newFake(t)
			fake.FailNext(1, fakeapi.Fault{Status: tc.status, Body: tc.body, RetryAfter: tc.retryAfter})
			err := newNotifier(t, hook, "", nil).Notify(context.Background(), firingTwo())
			var got outcome
			if err != nil {
				got.Err = err.Error()
				got.Retry, got.RetryAfter, got.Reason = notify.Classify(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetryTransportFailures(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		fake, hook := newFake(t)
		n := newNotifier(t, hook, "", nil)
		fake.Close()
		err := n.Notify(context.Background(), firingTwo())
		checkRetryable(t, err, notify.ReasonNetwork, "connection refused")
	})
	t.Run("connection dropped", func(t *testing.T) {
		fake, hook := newFake(t)
		fake.FailNext(1, fakeapi.Fault{HangUp: true})
		err := newNotifier(t, hook, "", nil).Notify(context.Background(), firingTwo())
		checkRetryable(t, err, notify.ReasonNetwork, "EOF")
	})
	t.Run("timeout", func(t *testing.T) {
		srv := hangingServer(t)
		err := newNotifier(t, srv.URL+"/services/T1/B1/x", "timeout: 20ms\n", nil).Notify(context.Background(), firingTwo())
		checkRetryable(t, err, notify.ReasonTimeout, "slack timeout of 20ms reached")
	})
	t.Run("rate limited by the fake", func(t *testing.T) {
		fake, hook := newFake(t)
		fake.SetRateLimit(1, time.Hour)
		n := newNotifier(t, hook, "", nil)
		if err := n.Notify(context.Background(), firingTwo()); err != nil {
			t.Fatalf("first post: %v", err)
		}
		err := n.Notify(context.Background(), firingTwo())
		checkRetryable(t, err, notify.ReasonRateLimited, "rate_limited")
		if _, after, _ := notify.Classify(err); after != time.Hour {
			t.Errorf("RetryAfter = %s, want the fake's 1h", after)
		}
	})
}

func checkRetryable(t *testing.T, err error, reason, text string) {
	t.Helper()
	if err == nil {
		t.Fatal("Notify succeeded")
	}
	retry, _, gotReason := notify.Classify(err)
	if !retry || gotReason != reason || !strings.Contains(err.Error(), text) {
		t.Errorf("Notify error %q: retry %v, reason %q; want retryable, %q, mentioning %q", err, retry, gotReason, reason, text)
	}
}

// hangingServer answers nothing until the client gives up or the test
// ends.
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client hanging up only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	return srv
}

// TestSecretsNeverShown drives every kind of failure with a webhook whose
// URL is a secret and checks that neither the URL nor its token reaches
// an error or a log line.
func TestSecretsNeverShown(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fake, hook := newFake(t)
	token := strings.TrimPrefix(hook, fake.URL()+"/services/")
	hanging := hangingServer(t)
	var errs []error
	notifyOnce := func(n *Notifier, no *notify.Notification) {
		if err := n.Notify(context.Background(), no); err != nil {
			errs = append(errs, err)
		}
	}

	n := newNotifier(t, hook, "", logger)
	notifyOnce(n, sixty()) // logs a truncation warning
	n.conf.Mentions = map[string][]Mention{"critical": {"here"}}
	bad := firingTwo()
	bad.Mentions = []string{"not-an-id"}
	notifyOnce(n, bad) // logs the dropped mention
	for _, f := range []struct {
		status int
		body   string
	}{{400, "invalid_payload"}, {403, "invalid_token"}, {404, "no_service"}, {429, "rate_limited"}, {500, "rollup_error"}, {200, "not ok"}} {
		fake.FailNext(1, fakeapi.Fault{Status: f.status, Body: f.body, RetryAfter: time.Second})
		notifyOnce(n, firingTwo())
	}
	fake.FailNext(1, fakeapi.Fault{HangUp: true})
	notifyOnce(n, firingTwo())
	notifyOnce(newNotifier(t, hanging.URL+"/services/"+token, "timeout: 20ms\n", logger), firingTwo())
	notifyOnce(newNotifier(t, "http://127.0.0.1:1/services/"+token, "", logger), firingTwo())

	file := filepath.Join(t.TempDir(), "webhook")
	writeFile(t, file, "ftp://hooks.example.com/services/"+token+"\n")
	fromFile := newNotifier(t, hook, "", logger)
	fromFile.conf.WebhookURL, fromFile.conf.WebhookURLFile = "", file
	notifyOnce(fromFile, firingTwo())

	if len(errs) != 10 {
		t.Errorf("got %d errors, want 10: %v", len(errs), errs)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no warning was logged:\n%s", logs.String())
	}
	for _, err := range errs {
		for _, secret := range []string{token, hook} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the webhook", err)
			}
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("logs show the webhook token:\n%s", logs.String())
	}
}

func TestWebhookURLFile(t *testing.T) {
	fake, first := newFake(t)
	second := fake.NewWebhook()
	file := filepath.Join(t.TempDir(), "webhook")
	writeFile(t, file, first+"\n")
	c := decodeConfig(t, "webhook_url_file: webhook\n")
	c.ResolvePaths(file)
	n, err := New(c, notify.Options{Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), firingTwo()); err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, "  "+second+"\n") // rotated: read on the next send
	if err := n.Notify(context.Background(), firingTwo()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range fake.Received() {
		got = append(got, fake.URL()+"/services/"+r.Webhook)
	}
	if diff := cmp.Diff([]string{first, second}, got); diff != "" {
		t.Errorf("webhooks posted to (-want +got):\n%s", diff)
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), firingTwo())
	if retry, _, reason := notify.Classify(err); err == nil || !retry || reason != notify.ReasonInvalid ||
		!strings.HasPrefix(err.Error(), "reading slack webhook_url_file: ") {
		t.Errorf("missing file: error %v (retry %v, reason %q), want a retryable invalid error (the file may be mid-rotation)", err, retry, reason)
	}
}

func TestBadTemplates(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{"title: '{{ .Nope }'\n", `slack title: rendering template: template: :1: unexpected "}" in operand`},
		{"text: '{{ template \"missing\" . }}'\n", `slack text: rendering template: template: :1:12: executing "" at <{{template "missing" .}}>: template "missing" not defined`},
	} {
		c := decodeConfig(t, "webhook_url: https://hooks.slack.com/services/T1/B1/x\n"+tc.config)
		_, err := New(c, notify.Options{})
		if err == nil {
			t.Errorf("New accepted %q", tc.config)
			continue
		}
		if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	}
}

func TestNotifyHonoursContext(t *testing.T) {
	srv := hangingServer(t)
	n := newNotifier(t, srv.URL+"/services/T1/B1/x", "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := n.Notify(ctx, firingTwo())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Notify with a cancelled context: %v, want context.Canceled", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

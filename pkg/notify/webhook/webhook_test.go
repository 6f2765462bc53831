package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
	"github.com/klaxonhq/klaxon/pkg/notify/webhook/webhooktest"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// hookPath is the secret part of the fake's URL: no error may show it.
const (
	hookPath  = "/hooks/T0-path-s3cret"
	hookQuery = "token=query-s3cret"
	hookToken = "Bearer header-s3cret"
)

var secrets = []string{"path-s3cret", "query-s3cret", "header-s3cret", "user-s3cret"}

func notification(kind notify.Kind, m *alert.Message) *notify.Notification {
	return &notify.Notification{ID: 7, Channel: "hook", Route: "ops", Kind: kind, Message: m,
		IncidentKey: alert.IncidentKey("ops", m.GroupKey), CreatedAt: notifytest.Start}
}

// decode reads a channel's YAML as the receiver's config does.
func decode(tb testing.TB, in string) *Config {
	tb.Helper()
	var c Config
	if err := yamlconf.Decode("receiver.yml", []byte(in), &c); err != nil {
		tb.Fatal(err)
	}
	return &c
}

func newNotifier(t *testing.T, in string) *Notifier {
	t.Helper()
	w, err := New(decode(t, in), notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// fake starts an endpoint expecting a POST of JSON to hookPath with the
// token header, and returns it with the YAML of a channel that sends
// there.
func fake(t *testing.T) (*webhooktest.Server, string) {
	t.Helper()
	srv := webhooktest.NewServer(webhooktest.Expect{Method: "POST", Path: hookPath, ContentType: "application/json",
		Header: map[string]string{"Authorization": hookToken}})
	t.Cleanup(srv.Close)
	return srv, "url: " + srv.URL() + hookPath + "?" + hookQuery + "\nheaders:\n  Authorization: {value: '" + hookToken + "'}\n"
}

func noSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range secrets {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("error quotes the secret %q: %v", s, err)
		}
	}
}

// defaultPayload is the default body as an Alertmanager webhook receiver
// and a Klaxon-aware one read it.
type defaultPayload struct {
	alert.Message
	Klaxon struct {
		Kind        string `json:"kind"`
		IncidentKey string `json:"incident_key"`
		Route       string `json:"route"`
		Channel     string `json:"channel"`
		Level       int    `json:"level"`
		AckedBy     string `json:"acked_by"`
		AckURL      string `json:"ack_url"`
	} `json:"klaxon"`
}

// TestDefaultBody: the default body is Alertmanager's payload, which the
// receiver's own decoder takes back as it was, plus Klaxon's fields.
func TestDefaultBody(t *testing.T) {
	srv, conf := fake(t)
	w := newNotifier(t, conf)
	m := notifytest.FiringTwo()
	m.TruncatedAlerts = 3
	m.NotificationReason = "new_alerts"
	n := notification(notify.KindTrigger, m)
	n.AckURL = "https://klaxon.example.com/ack/abc"
	if err := w.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	if ua := got[0].Header.Get("User-Agent"); ua != "klaxon-receiver" {
		t.Errorf("User-Agent %q", ua)
	}
	if got[0].RawQuery != hookQuery {
		t.Errorf("query %q, want the URL's", got[0].RawQuery)
	}
	decoded, err := alert.Decode(bytes.NewReader(got[0].Body))
	if err != nil {
		t.Fatalf("the default body is not an Alertmanager payload: %v\n%s", err, got[0].Body)
	}
	if diff := cmp.Diff(m, decoded); diff != "" {
		t.Errorf("payload (-sent +received):\n%s", diff)
	}
	var p defaultPayload
	if err := json.Unmarshal(got[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	k := p.Klaxon
	if k.Kind != "trigger" || k.IncidentKey != n.IncidentKey || k.Route != "ops" || k.Channel != "hook" || k.AckURL != n.AckURL {
		t.Errorf("klaxon fields %+v, want those of %+v", k, n)
	}
}

// TestResolveAndTest: resolve and test notifications are sent too, each
// saying its kind; escalate and acknowledged ones are not, as the
// channel is no chat.
func TestKinds(t *testing.T) {
	srv, conf := fake(t)
	w := newNotifier(t, conf)
	for _, n := range []*notify.Notification{
		notification(notify.KindResolve, notifytest.Resolved()),
		notification(notify.KindTest, notifytest.FiringTwo()),
		{Kind: notify.KindEscalate, Level: 2, Message: notifytest.FiringTwo()},
		{Kind: notify.KindAcknowledged, AckedBy: "alice", Message: notifytest.FiringTwo()},
	} {
		if err := w.Notify(context.Background(), n); err != nil {
			t.Fatalf("%s: %v", n.Kind, err)
		}
	}
	var kinds, statuses []string
	for _, r := range srv.Received() {
		var p defaultPayload
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		kinds, statuses = append(kinds, p.Klaxon.Kind), append(statuses, p.Status)
	}
	if diff := cmp.Diff([]string{"resolve", "test"}, kinds); diff != "" {
		t.Errorf("kinds sent (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"resolved", "firing"}, statuses); diff != "" {
		t.Errorf("statuses sent (-want +got):\n%s", diff)
	}
	var n notify.Notifier = w
	if _, ok := n.(notify.Chat); ok {
		t.Error("the webhook is a notify.Chat: escalations would reach it")
	}
	if _, ok := n.(notify.Digester); ok {
		t.Error("the webhook is a notify.Digester")
	}
	if _, ok := n.(notify.LatestOnly); ok {
		t.Error("the webhook is notify.LatestOnly")
	}
}

// hostileMessage has a quote, a backslash, a newline, a tab and a script
// end tag in a label, an annotation and the receiver.
func hostileMessage() *alert.Message {
	const nasty = "a \"quoted\" \\back\\slash\nnew line\t</script><script>alert(1)</script> \u2028"
	m := notifytest.FiringTwo()
	m.Receiver = "klaxon " + nasty
	m.CommonLabels["team"] = nasty
	m.GroupLabels["team"] = nasty
	for i := range m.Alerts {
		m.Alerts[i].Labels["team"] = nasty
		m.Alerts[i].Annotations["summary"] = nasty
	}
	return m
}

// TestJSONEscaping: values with quotes, backslashes, newlines and
// </script> render as JSON strings that read back as they were, in the
// default body and in a custom one that uses toJson.
func TestJSONEscaping(t *testing.T) {
	custom := `body: |
  {"team": {{ toJson .CommonLabels.team }}, "labels": {{ toJson .CommonLabels }},
   "summary": {{ toJson (index .Alerts 0).Annotations.summary }}, "who": {{ toJson .Receiver }}}
`
	for _, tc := range []struct{ name, body string }{{"default", ""}, {"custom", custom}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, conf := fake(t)
			w := newNotifier(t, conf+tc.body)
			m := hostileMessage()
			if err := w.Notify(context.Background(), notification(notify.KindTrigger, m)); err != nil {
				t.Fatal(err)
			}
			got := srv.Received()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			if bytes.Contains(got[0].Body, []byte("</script>")) {
				t.Errorf("the body holds </script> as is:\n%s", got[0].Body)
			}
			var p struct {
				Team, Who, Receiver string
				Summary             string
				Labels              map[string]string
				CommonLabels        map[string]string `json:"commonLabels"`
				Alerts              []alert.Alert
			}
			if err := json.Unmarshal(got[0].Body, &p); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, got[0].Body)
			}
			want := m.CommonLabels["team"]
			if tc.name == "custom" {
				if p.Team != want || p.Labels["team"] != want || p.Summary != want || p.Who != m.Receiver {
					t.Errorf("custom body read back as %+v, want %q", p, want)
				}
				return
			}
			if p.CommonLabels["team"] != want || p.Receiver != m.Receiver || p.Alerts[0].Annotations["summary"] != want {
				t.Errorf("default body read back as %+v, want %q", p, want)
			}
		})
	}
}

// TestBodyNotJSONAtLoad: a JSON body that is not JSON, or would not be
// for a label holding a quote, fails the config; the same text with a
// content type that is not JSON is taken.
func TestBodyNotJSONAtLoad(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unquoted interpolation", `body: '{"alert": "{{ .CommonLabels.alertname }}"}'`, "the body is not valid JSON"},
		{"subject in quotes", `body: '{"text": "{{ template "__subject" . }}"}'`, "the body is not valid JSON"},
		{"missing brace", `body: '{"alert": {{ toJson .CommonLabels.alertname }}'`, "the body is not valid JSON"},
		{"empty", `body: '{{ "" }}'`, "the body is not valid JSON"},
		{"bad function", `body: '{{ json . }}'`, `function "json" not defined`},
		{"bad url_suffix", `url_suffix: '{{ .Nope }}'`, "rendering url_suffix"},
		{"url_suffix breaks the url", `url_suffix: '%zz'`, "url with url_suffix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(decode(t, "url: https://hooks.example.com"+hookPath+"\n"+tc.body+"\n"), notify.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() = %v, want an error saying %q", err, tc.want)
			}
			noSecrets(t, err)
		})
	}
	plain := "url: https://hooks.example.com/x\ncontent_type: text/plain\nbody: '{\"alert\": \"{{ .CommonLabels.alertname }}\"}'\n"
	if _, err := New(decode(t, plain), notify.Options{}); err != nil {
		t.Errorf("a text/plain body was checked as JSON: %v", err)
	}
	vendor := "url: https://hooks.example.com/x\ncontent_type: application/vnd.api+json\nbody: '{\"a\": \"{{ .CommonLabels.alertname }}\"}'\n"
	if _, err := New(decode(t, vendor), notify.Options{}); err == nil {
		t.Error("an application/vnd.api+json body was not checked as JSON")
	}
}

// TestBodyNotJSONAtSend: a body that renders to JSON for the samples but
// not for a notification is a permanent failure, and nothing is sent.
func TestBodyNotJSONAtSend(t *testing.T) {
	srv, conf := fake(t)
	w := newNotifier(t, conf+`body: '{{ if eq .CommonLabels.job "api" }}not json{{ else }}{}{{ end }}'`+"\n")
	err := w.Notify(context.Background(), notification(notify.KindTrigger, notifytest.FiringTwo()))
	retry, _, reason := notify.Classify(err)
	if err == nil || retry || reason != notify.ReasonInvalid || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("Notify() = %v (retry %v, %s), want a permanent invalid body", err, retry, reason)
	}
	if srv.Seen() != 0 {
		t.Errorf("%d requests reached the endpoint, want none", srv.Seen())
	}
}

// TestFailures: how each answer is classified, its error naming the
// status and the start of the answer and never a secret, though the
// endpoint echoes the URL and the token.
func TestFailures(t *testing.T) {
	echo := "no hook at https://127.0.0.1" + hookPath + "?" + hookQuery + " for " + hookToken + " " + strings.Repeat("x", 2000)
	for _, tc := range []struct {
		name   string
		fault  fakeapi.Fault
		retry  bool
		after  time.Duration
		reason string
		status int
		says   string
	}{
		{"429", fakeapi.Fault{Status: 429, RetryAfter: 7 * time.Second}, true, 7 * time.Second, notify.ReasonRateLimited, 429, "429 Too Many Requests"},
		{"503 with Retry-After", fakeapi.Fault{Status: 503, RetryAfter: 30 * time.Second}, true, 30 * time.Second, notify.ReasonServerError, 503, "503 Service Unavailable"},
		{"500", fakeapi.Fault{Status: 500, Body: echo}, true, 0, notify.ReasonServerError, 500, "500 Internal Server Error: no hook at"},
		{"408", fakeapi.Fault{Status: 408}, true, 0, notify.ReasonServerError, 408, "408 Request Timeout"},
		{"400", fakeapi.Fault{Status: 400, Body: echo}, false, 0, notify.ReasonClientError, 400, "400 Bad Request: no hook at"},
		{"404", fakeapi.Fault{Status: 404, Body: "no such hook"}, false, 0, notify.ReasonClientError, 404, "404 Not Found: no such hook"},
		{"401", fakeapi.Fault{Status: 401, Body: echo}, false, 0, notify.ReasonAuthError, 401, "401 Unauthorized"},
		{"redirect", fakeapi.Fault{Status: 302, Header: http.Header{"Location": {"https://elsewhere.example" + hookPath}}},
			false, 0, notify.ReasonClientError, 302, "302 Found, a redirect, which is not followed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, conf := fake(t)
			w := newNotifier(t, conf)
			srv.FailNext(1, tc.fault)
			err := w.Notify(context.Background(), notification(notify.KindTrigger, notifytest.FiringTwo()))
			retry, after, reason := notify.Classify(err)
			if err == nil || retry != tc.retry || after != tc.after || reason != tc.reason {
				t.Errorf("Notify() = %v: retry %v after %s (%s), want retry %v after %s (%s)", err, retry, after, reason, tc.retry, tc.after, tc.reason)
			}
			var e *notify.Error
			if !errors.As(err, &e) || e.StatusCode != tc.status {
				t.Errorf("error %#v, want status %d", err, tc.status)
			}
			if err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if err != nil && len(err.Error()) > 700 {
				t.Errorf("error of %d bytes: the answer is not cut short", len(err.Error()))
			}
			noSecrets(t, err)
			if srv.Seen() != 1 {
				t.Errorf("%d requests, want 1: a redirect is not followed", srv.Seen())
			}
		})
	}
}

// TestTransportFailures: a slow answer past the timeout, a dropped
// connection and an unreachable host are retried, their errors showing
// the URL's scheme and host only.
func TestTransportFailures(t *testing.T) {
	t.Run("slow", func(t *testing.T) {
		srv, conf := fake(t)
		w := newNotifier(t, conf+"timeout: 50ms\n")
		srv.FailNext(1, fakeapi.Fault{Stall: true})
		err := w.Notify(context.Background(), notification(notify.KindTrigger, notifytest.FiringTwo()))
		if retry, _, reason := notify.Classify(err); err == nil || !retry || reason != notify.ReasonTimeout {
			t.Errorf("Notify() = %v (retry %v, %s), want a retryable timeout", err, retry, reason)
		}
		noSecrets(t, err)
	})
	t.Run("hang up", func(t *testing.T) {
		srv, conf := fake(t)
		w := newNotifier(t, conf)
		srv.FailNext(1, fakeapi.Fault{HangUp: true})
		err := w.Notify(context.Background(), notification(notify.KindTrigger, notifytest.FiringTwo()))
		if retry, _, reason := notify.Classify(err); err == nil || !retry || reason != notify.ReasonNetwork {
			t.Errorf("Notify() = %v (retry %v, %s), want a retryable network failure", err, retry, reason)
		}
		noSecrets(t, err)
		if err != nil && !strings.Contains(err.Error(), srv.URL()+"/<redacted>") {
			t.Errorf("error %q does not show the URL's scheme and host", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv, conf := fake(t)
		srv.Close()
		conf = strings.Replace(conf, "://", "://user:user-s3cret@", 1)
		w := newNotifier(t, conf)
		err := w.Notify(context.Background(), notification(notify.KindTrigger, notifytest.FiringTwo()))
		if retry, _, reason := notify.Classify(err); err == nil || !retry || reason != notify.ReasonNetwork {
			t.Errorf("Notify() = %v (retry %v, %s), want a retryable network failure", err, retry, reason)
		}
		noSecrets(t, err)
	})
}

// TestSecretsFromFiles: the URL and a header's value are read from their
// files at every send, so a rotation needs no reload; a missing file is
// retried without a request.
func TestSecretsFromFiles(t *testing.T) {
	srv := webhooktest.NewServer(webhooktest.Expect{Method: "PUT", ContentType: "text/plain"})
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("url", srv.URL()+"/first-path-s3cret\n")
	write("token", "first-header-s3cret\n")
	c := decode(t, "url_file: url\nmethod: put\ncontent_type: text/plain\nbody: '{{ .CommonLabels.alertname }} is {{ .Status }}'\n"+
		"headers:\n  X-Token: {value_file: token}\n  X-Plain: plain\n")
	c.ResolvePaths(filepath.Join(dir, "receiver.yml"))
	w, err := New(c, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := notification(notify.KindTrigger, notifytest.FiringTwo())
	if err := w.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	write("url", srv.URL()+"/second-path-s3cret")
	write("token", "second-header-s3cret")
	if err := w.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	type sent struct{ Path, Token, Plain, Body string }
	var got []sent
	for _, r := range srv.Received() {
		got = append(got, sent{r.Path, r.Header.Get("X-Token"), r.Header.Get("X-Plain"), string(r.Body)})
	}
	want := []sent{
		{"/first-path-s3cret", "first-header-s3cret", "plain", "HighErrorRate is firing"},
		{"/second-path-s3cret", "second-header-s3cret", "plain", "HighErrorRate is firing"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	for _, tc := range []struct{ name, file, content, says string }{
		{"url missing", "url", "", "reading webhook url_file"},
		{"url empty", "url", "\n", "is empty"},
		{"url not a url", "url", "hooks.example.com/path-s3cret", "must be an absolute http or https URL"},
		{"token missing", "token", "", "reading webhook header X-Token value_file"},
		{"token with a newline", "token", "header-s3cret\nX-Injected: 1", "holds a control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write("url", srv.URL()+"/path-s3cret")
			write("token", "header-s3cret")
			if tc.content == "" {
				if err := os.Remove(filepath.Join(dir, tc.file)); err != nil {
					t.Fatal(err)
				}
			} else {
				write(tc.file, tc.content)
			}
			before := srv.Seen()
			err := w.Notify(context.Background(), n)
			if retry, _, reason := notify.Classify(err); err == nil || !retry || reason != notify.ReasonInvalid || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Notify() = %v (retry %v, %s), want a retryable error saying %q", err, retry, reason, tc.says)
			}
			noSecrets(t, err)
			if srv.Seen() != before {
				t.Error("a request was made")
			}
		})
	}
}

// TestSecretsFromEnvironment: url_env and value_env are read at load.
func TestSecretsFromEnvironment(t *testing.T) {
	srv := webhooktest.NewServer(webhooktest.Expect{Path: "/env-path-s3cret", Header: map[string]string{"X-Token": "env-header-s3cret"}})
	t.Cleanup(srv.Close)
	t.Setenv("KLAXON_TEST_HOOK_URL", srv.URL()+"/env-path-s3cret")
	t.Setenv("KLAXON_TEST_HOOK_TOKEN", "env-header-s3cret")
	w := newNotifier(t, "url_env: KLAXON_TEST_HOOK_URL\nheaders:\n  X-Token: {value_env: KLAXON_TEST_HOOK_TOKEN}\n")
	if err := w.Notify(context.Background(), notification(notify.KindTrigger, notifytest.FiringTwo())); err != nil {
		t.Fatal(err)
	}
	if got := len(srv.Received()); got != 1 {
		t.Errorf("%d requests accepted, want 1", got)
	}
}

// TestURLSuffix: url_suffix picks the path by kind, as a heartbeat
// monitor's ping URL wants: /fail on trigger, the bare URL on resolve.
func TestURLSuffix(t *testing.T) {
	srv := webhooktest.NewServer(webhooktest.Expect{})
	t.Cleanup(srv.Close)
	w := newNotifier(t, "url: "+srv.URL()+"/ping/uuid-path-s3cret\nurl_suffix: '{{ if eq .Kind \"trigger\" }}/fail{{ end }}'\n"+
		"content_type: text/plain\nbody: '{{ template \"__subject\" . }}'\n")
	for _, n := range []*notify.Notification{
		notification(notify.KindTrigger, notifytest.FiringTwo()),
		notification(notify.KindResolve, notifytest.Resolved()),
	} {
		if err := w.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range srv.Received() {
		got = append(got, r.Path+" "+string(r.Body))
	}
	want := []string{
		"/ping/uuid-path-s3cret/fail [FIRING:2] HighErrorRate api (critical)",
		"/ping/uuid-path-s3cret [RESOLVED] HighErrorRate api (critical)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestFakeChecks: the fake refuses what a strict endpoint would, so the
// tests above prove what the channel sends.
func TestFakeChecks(t *testing.T) {
	srv, conf := fake(t)
	for _, tc := range []struct{ name, conf, says string }{
		{"method", conf + "method: PATCH\n", "405"},
		{"content type", conf + "content_type: text/plain\nbody: hi\n", "415"},
		{"token", strings.Replace(conf, "header-s3cret", "wrong", 1), "401"},
		{"path", strings.Replace(conf, hookPath, "/elsewhere", 1), "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newNotifier(t, tc.conf).Notify(context.Background(), notification(notify.KindTrigger, notifytest.FiringTwo()))
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Notify() = %v, want the fake's %s", err, tc.says)
			}
		})
	}
	if got := len(srv.Received()); got != 0 {
		t.Errorf("the fake accepted %d requests, want none", got)
	}
}

// The examples of docs/receiver.md's "Generic webhook" section, less
// their url_file, which the test replaces with the fake's URL.
const (
	exampleHealthchecks = `url_suffix: '{{ if eq .Kind "trigger" }}/fail{{ end }}'
content_type: text/plain
body: '{{ template "__subject" . }}'
`
	exampleMattermost = `body: |
  {"username": "Klaxon",
   "text": {{ toJson (print "**" (.Status | toUpper) "** " .CommonLabels.alertname ": " (index .Alerts 0).Annotations.summary "\n" .ExternalURL) }}}
`
	exampleTeams = `body: |
  {"type": "message",
   "attachments": [{
     "contentType": "application/vnd.microsoft.card.adaptive",
     "content": {
       "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
       "type": "AdaptiveCard", "version": "1.4",
       "body": [
         {"type": "TextBlock", "weight": "Bolder", "wrap": true,
          "text": {{ toJson (print (.Status | toUpper) ": " .CommonLabels.alertname " (" .CommonLabels.severity ")") }}},
         {{- range $i, $a := .Alerts }}
         {"type": "TextBlock", "wrap": true, "text": {{ toJson (print $a.Labels.instance ": " $a.Annotations.summary) }}},
         {{- end }}
         {"type": "TextBlock", "isSubtle": true, "text": {{ toJson .IncidentKey }}}
       ]}}]}
`
)

// TestDocExamples: the documented bodies load, survive hostile labels
// and arrive as their endpoints want them.
func TestDocExamples(t *testing.T) {
	for _, tc := range []struct{ name, conf, contentType string }{
		{"healthchecks", exampleHealthchecks, "text/plain"},
		{"mattermost", exampleMattermost, "application/json"},
		{"teams", exampleTeams, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := webhooktest.NewServer(webhooktest.Expect{Method: "POST", ContentType: tc.contentType})
			t.Cleanup(srv.Close)
			w := newNotifier(t, "url: "+srv.URL()+"/hook\n"+tc.conf)
			for _, m := range []*alert.Message{notifytest.FiringTwo(), hostileMessage(), notifytest.Resolved()} {
				kind := notify.KindTrigger
				if m.Status == alert.StatusResolved {
					kind = notify.KindResolve
				}
				if err := w.Notify(context.Background(), notification(kind, m)); err != nil {
					t.Fatal(err)
				}
			}
			got := srv.Received()
			if len(got) != 3 {
				t.Fatalf("%d requests accepted, want 3", len(got))
			}
			t.Logf("%s %s\n%s", got[0].Method, got[0].Path, got[0].Body)
			if tc.name == "healthchecks" && (got[0].Path != "/hook/fail" || got[2].Path != "/hook") {
				t.Errorf("paths %s, %s: want /fail on trigger, the ping URL on resolve", got[0].Path, got[2].Path)
			}
		})
	}
}

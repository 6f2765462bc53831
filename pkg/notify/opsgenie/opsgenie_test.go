package opsgenie

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
	"github.com/klaxonhq/klaxon/pkg/notify/opsgenie/opsgenietest"
)

const testKey = "5ec2e7-SECRET-genie-key-0001"

var start = notifytest.Start

var (
	newAlert  = notifytest.NewAlert
	firingTwo = notifytest.FiringTwo
	resolved  = notifytest.Resolved
)

func notification(kind notify.Kind, m *alert.Message) *notify.Notification {
	return &notify.Notification{ID: 7, Channel: "genie", Route: "ops", Kind: kind, Message: m,
		IncidentKey: alert.IncidentKey("ops", m.GroupKey), CreatedAt: start}
}

// large is a group of 60 alerts with long annotations and 25 common
// labels, past every Opsgenie limit.
func large() *alert.Message {
	common := map[string]string{"alertname": "DiskFull", "severity": "warning", "cluster": strings.Repeat("eu-west-1-", 20)}
	for i := range 25 {
		common[fmt.Sprintf("label%02d", i)] = fmt.Sprintf("value-%02d", i)
	}
	m := &alert.Message{
		Version: "4", GroupKey: `{}:{alertname="DiskFull"}`, Status: alert.StatusFiring, Receiver: "klaxon",
		GroupLabels: map[string]string{"alertname": "DiskFull", "cluster": common["cluster"]}, CommonLabels: common,
		ExternalURL: "http://alertmanager:9093", TruncatedAlerts: 3,
	}
	for i := range 60 {
		labels := map[string]string{"instance": fmt.Sprintf("db-%02d", i)}
		for k, v := range common {
			labels[k] = v
		}
		m.Alerts = append(m.Alerts, newAlert(alert.StatusFiring, labels, map[string]string{
			"description": strings.Repeat("The disk of "+labels["instance"]+" is nearly full. ", 60),
			"runbook_url": "https://runbooks.example.com/diskfull.md"}))
	}
	return m
}

// hostile carries mention syntax, markup and template text in labels and
// annotations: all of it must arrive as inert text.
func hostile() *alert.Message {
	labels := map[string]string{"alertname": "Pwn", "team": "@everyone @here", "instance": "<!channel> <@&123>", "severity": "critical"}
	return &alert.Message{
		Version: "4", GroupKey: `{}:{alertname="Pwn"}`, Status: alert.StatusFiring, Receiver: "klaxon",
		GroupLabels:  map[string]string{"alertname": "Pwn", "team": "@everyone @here"},
		CommonLabels: labels, ExternalURL: "http://alertmanager:9093",
		Alerts: []alert.Alert{newAlert(alert.StatusFiring, labels, map[string]string{
			"summary":     "<@456> &<> **bold** _it_ `code` [click](https://evil.example) {{ .ExternalURL }}",
			"runbook_url": "https://runbooks.example.com/pwn.md?a=1&b=<2>",
		})},
	}
}

func testConfig(url string) *Config {
	return &Config{APIKey: testKey, APIURL: url, Message: DefaultMessage, Priorities: DefaultPriorities(),
		DefaultPriority: DefaultPriority, Source: DefaultSource, Timeout: DefaultTimeout}
}

func newNotifier(t *testing.T, c *Config, logger *slog.Logger) *Notifier {
	t.Helper()
	tmpl, err := notify.NewTemplate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if logger == nil {
		logger = promslog.NewNopLogger()
	}
	o, err := New(c, notify.Options{Template: tmpl, Client: &http.Client{}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestGoldenCreates(t *testing.T) {
	override := func(c *Config) {
		c.Message = `{{ .CommonLabels.alertname }} on {{ .CommonLabels.job }}`
		c.Description = `{{ range .Alerts.Firing }}{{ .Labels.instance }}: {{ .Annotations.summary }}
{{ end }}`
		c.Priorities["critical"] = "P2"
		c.Tags = []string{"prod"}
		c.Source = "acme-alertmanager"
		c.Responders = []Responder{{Type: "team", Name: "ops"}, {Type: "user", Username: "alice@example.com"}}
	}
	for _, tc := range []struct {
		name   string
		kind   notify.Kind
		msg    *alert.Message
		config func(*Config)
	}{
		{"firing", notify.KindTrigger, firingTwo(), nil},
		{"large", notify.KindTrigger, large(), nil},
		{"hostile", notify.KindTrigger, hostile(), nil},
		{"template-override", notify.KindTrigger, firingTwo(), override},
		{"send-test", notify.KindTest, firingTwo(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := opsgenietest.NewServer(testKey)
			defer fake.Close()
			c := testConfig(fake.URL())
			if tc.config != nil {
				tc.config(c)
			}
			if err := newNotifier(t, c, nil).Notify(context.Background(), notification(tc.kind, tc.msg)); err != nil {
				t.Fatal(err)
			}
			bodies := fake.Bodies()
			if len(bodies) != 1 {
				t.Fatalf("fake accepted %d alerts, want 1", len(bodies))
			}
			testkit.GoldenJSON(t, filepath.Join("testdata", tc.name+".json"), bodies[0])
		})
	}
}

func TestResolveClosesByAlias(t *testing.T) {
	fake := opsgenietest.NewServer(testKey)
	defer fake.Close()
	n := notification(notify.KindResolve, resolved())
	if err := newNotifier(t, testConfig(fake.URL()), nil).Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	want := []opsgenietest.Close{{Alias: n.IncidentKey, Source: "klaxon-receiver", Note: "All 2 alerts of the group resolved."}}
	if diff := cmp.Diff(want, fake.Closed()); diff != "" {
		t.Errorf("closes (-want +got):\n%s", diff)
	}
	if got := fake.Received(); len(got) != 0 {
		t.Errorf("resolve created alerts: %v", got)
	}
}

func TestLargeGroupHoldsLimits(t *testing.T) {
	fake := opsgenietest.NewServer(testKey)
	defer fake.Close()
	var logs bytes.Buffer
	o := newNotifier(t, testConfig(fake.URL()), slog.New(slog.NewTextHandler(&logs, nil)))
	if err := o.Notify(context.Background(), notification(notify.KindTrigger, large())); err != nil {
		t.Fatal(err)
	}
	a := fake.Received()[0]
	if n := utf8.RuneCountInString(a.Message); n != maxMessage || !strings.HasSuffix(a.Message, "…") {
		t.Errorf("message has %d runes (%q), want %d ending with …", n, a.Message, maxMessage)
	}
	if n := utf8.RuneCountInString(a.Description); n > maxDescription || !strings.Contains(a.Description, "more alerts, cut to fit") {
		t.Errorf("description has %d runes, want at most %d with an \"and N more\" line", n, maxDescription)
	}
	if len(a.Tags) != maxTags {
		t.Errorf("%d tags, want %d", len(a.Tags), maxTags)
	}
	for _, tag := range a.Tags {
		if utf8.RuneCountInString(tag) > maxTagLength {
			t.Errorf("tag %q is over %d runes", tag, maxTagLength)
		}
	}
	for _, want := range []string{`field=message`, `field=tags`, "dropped opsgenie tags"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no warning %q in logs:\n%s", want, logs.String())
		}
	}
}

func TestDetailsHeldToLimit(t *testing.T) {
	fake := opsgenietest.NewServer(testKey)
	defer fake.Close()
	m := firingTwo()
	m.CommonLabels["a_huge"] = strings.Repeat("x", maxDetails)
	var logs bytes.Buffer
	o := newNotifier(t, testConfig(fake.URL()), slog.New(slog.NewTextHandler(&logs, nil)))
	if err := o.Notify(context.Background(), notification(notify.KindTrigger, m)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"runbook_url": "https://runbooks.example.com/higherrorrate.md",
		"alertname": "HighErrorRate", "job": "api", "severity": "critical"}
	if diff := cmp.Diff(want, fake.Received()[0].Details); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "dropped opsgenie details over the limit") {
		t.Errorf("no warning in logs:\n%s", logs.String())
	}
}

func TestRetryClassification(t *testing.T) {
	type want struct {
		ok     bool
		retry  bool
		after  time.Duration
		reason string
		text   string
	}
	fail := func(status int, after time.Duration) func(*opsgenietest.Server, *Config) {
		return func(s *opsgenietest.Server, _ *Config) {
			s.FailNext(1, fakeapi.Fault{Status: status, RetryAfter: after})
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(*opsgenietest.Server, *Config)
		want  want
	}{
		{"202 accepted", nil, want{ok: true}},
		{"200 ok", func(s *opsgenietest.Server, _ *Config) {
			s.FailNext(1, fakeapi.Fault{Status: 200, Body: `{"result":"ok"}`})
		}, want{ok: true}},
		{"400", fail(400, 0), want{reason: notify.ReasonClientError, text: "opsgenie answered 400 Bad Request: Bad Request (request fake-request-1)"}},
		{"401 bad key", func(_ *opsgenietest.Server, c *Config) { c.APIKey = "wrong" },
			want{reason: notify.ReasonAuthError, text: "opsgenie answered 401 Unauthorized: Key format is not valid! (request fake-request-1)"}},
		{"403", fail(403, 0), want{reason: notify.ReasonAuthError, text: "opsgenie answered 403 Forbidden: Forbidden"}},
		{"404", func(_ *opsgenietest.Server, c *Config) { c.APIURL += "/nowhere" },
			want{reason: notify.ReasonClientError, text: "opsgenie answered 404 Not Found: Could not find the requested resource"}},
		{"422 rejected", func(_ *opsgenietest.Server, c *Config) { c.Responders = []Responder{{Type: "squad", Name: "x"}} },
			want{reason: notify.ReasonClientError, text: `opsgenie answered 422 Unprocessable Entity: Responder type "squad" is not valid`}},
		{"429 with Retry-After", fail(429, 42*time.Second), want{retry: true, after: 42 * time.Second, reason: notify.ReasonRateLimited, text: "429 Too Many Requests"}},
		{"429 without Retry-After", fail(429, 0), want{retry: true, reason: notify.ReasonRateLimited, text: "429 Too Many Requests"}},
		{"500", fail(500, 0), want{retry: true, reason: notify.ReasonServerError, text: "500 Internal Server Error"}},
		{"502", fail(502, 0), want{retry: true, reason: notify.ReasonServerError, text: "502 Bad Gateway"}},
		{"503", fail(503, 0), want{retry: true, reason: notify.ReasonServerError, text: "503 Service Unavailable"}},
		{"connection dropped", func(s *opsgenietest.Server, _ *Config) { s.FailNext(1, fakeapi.Fault{HangUp: true}) }, want{retry: true, reason: notify.ReasonNetwork, text: "EOF"}},
		{"connection refused", func(_ *opsgenietest.Server, c *Config) { c.APIURL = "http://" + testenv.FreeAddr(t) },
			want{retry: true, reason: notify.ReasonNetwork, text: "connection refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := opsgenietest.NewServer(testKey)
			defer fake.Close()
			c := testConfig(fake.URL())
			if tc.setup != nil {
				tc.setup(fake, c)
			}
			err := newNotifier(t, c, nil).Notify(context.Background(), notification(notify.KindTrigger, firingTwo()))
			var got want
			if err == nil {
				got.ok = true
			} else {
				got.retry, got.after, got.reason = notify.Classify(err)
				got.text = tc.want.text
				if !strings.Contains(err.Error(), tc.want.text) {
					got.text = err.Error()
				}
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRateLimitedByFake(t *testing.T) {
	fake := opsgenietest.NewServer(testKey)
	defer fake.Close()
	fake.SetRateLimit(1, time.Hour)
	o := newNotifier(t, testConfig(fake.URL()), nil)
	n := notification(notify.KindTrigger, firingTwo())
	if err := o.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	err := o.Notify(context.Background(), n)
	if retry, _, reason := notify.Classify(err); !retry || reason != notify.ReasonRateLimited {
		t.Errorf("second create: err %v, want a retryable rate limit", err)
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "genie.key")
	if err := os.WriteFile(keyFile, []byte(testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func(*opsgenietest.Server, *Config)
		kind  notify.Kind
		msg   *alert.Message
	}{
		{"created", nil, notify.KindTrigger, firingTwo()},
		{"closed", nil, notify.KindResolve, resolved()},
		{"from key file", func(_ *opsgenietest.Server, c *Config) { c.APIKey, c.APIKeyFile = "", keyFile }, notify.KindTrigger, firingTwo()},
		{"limits held", nil, notify.KindTrigger, large()},
		{"upstream echoes the key", func(s *opsgenietest.Server, _ *Config) {
			s.FailNext(1, fakeapi.Fault{Status: 422, Body: `{"message":"Key ` + testKey + ` is disabled","took":0.001,"requestId":"r"}`})
		}, notify.KindTrigger, firingTwo()},
		{"server error echoes the key", func(s *opsgenietest.Server, _ *Config) {
			s.FailNext(1, fakeapi.Fault{Status: 500, Body: "GenieKey " + testKey})
		}, notify.KindTrigger, firingTwo()},
		{"connection refused", func(_ *opsgenietest.Server, c *Config) { c.APIURL = "http://" + testenv.FreeAddr(t) }, notify.KindTrigger, firingTwo()},
		{"key file gone", func(_ *opsgenietest.Server, c *Config) { c.APIKey, c.APIKeyFile = "", keyFile+".missing" }, notify.KindTrigger, firingTwo()},
		{"bad template", func(_ *opsgenietest.Server, c *Config) { c.Message = `{{ .CommonLabels.x | nosuchfunc }}` }, notify.KindTrigger, firingTwo()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := opsgenietest.NewServer(testKey)
			defer fake.Close()
			c := testConfig(fake.URL())
			if tc.setup != nil {
				tc.setup(fake, c)
			}
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			var texts []string
			o, err := New(c, notify.Options{Client: &http.Client{}, Logger: logger})
			if err != nil {
				texts = append(texts, err.Error())
			} else if err := o.Notify(context.Background(), notification(tc.kind, tc.msg)); err != nil {
				texts = append(texts, err.Error())
			}
			texts = append(texts, logs.String())
			for _, s := range texts {
				if strings.Contains(s, testKey) {
					t.Errorf("API key leaked into %q", s)
				}
			}
		})
	}
}

func TestSecretNotInMarshalledConfig(t *testing.T) {
	b, err := json.Marshal(testConfig("https://api.opsgenie.com"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), testKey) {
		t.Errorf("API key in %s", b)
	}
}

func TestAPIKeyFileReadAtSendTime(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "genie.key")
	c := testConfig("")
	c.APIKey, c.APIKeyFile = "", keyFile
	headers := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Get("Authorization")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c.APIURL = srv.URL
	o := newNotifier(t, c, nil)
	for _, key := range []string{" first-key\n", "second-key"} {
		if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := o.Notify(context.Background(), notification(notify.KindResolve, resolved())); err != nil {
			t.Fatal(err)
		}
	}
	got := []string{<-headers, <-headers}
	if diff := cmp.Diff([]string{"GenieKey first-key", "GenieKey second-key"}, got); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
}

func TestNewRejectsBrokenTemplate(t *testing.T) {
	c := testConfig("https://api.opsgenie.com")
	c.Description = `{{ .CommonLabels.job`
	_, err := New(c, notify.Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "checking opsgenie templates: rendering description: ") {
		t.Errorf("err %v, want a template error naming description", err)
	}
}

func TestHostileTextStaysInert(t *testing.T) {
	fake := opsgenietest.NewServer(testKey)
	defer fake.Close()
	if err := newNotifier(t, testConfig(fake.URL()), nil).Notify(context.Background(), notification(notify.KindTrigger, hostile())); err != nil {
		t.Fatal(err)
	}
	a := fake.Received()[0]
	if want := "[FIRING:1] Pwn @everyone @here (<!channel> <@&123> critical)"; a.Message != want {
		t.Errorf("message %q, want %q", a.Message, want)
	}
	if !strings.Contains(a.Description, "{{ .ExternalURL }}") {
		t.Errorf("annotation text was executed as a template:\n%s", a.Description)
	}
}

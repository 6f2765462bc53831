package pagerduty

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

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
)

// testKey is a well-formed routing key, as the fake checks them.
const testKey = "R0123456789abcdefSECRETKEY000001"

var start = notifytest.Start

var (
	newAlert  = notifytest.NewAlert
	firingTwo = notifytest.FiringTwo
	resolved  = notifytest.Resolved
)

func notification(kind notify.Kind, m *alert.Message) *notify.Notification {
	return &notify.Notification{ID: 7, Channel: "pager", Route: "ops", Kind: kind, Message: m,
		IncidentKey: alert.IncidentKey("ops", m.GroupKey), CreatedAt: start}
}

// truncated is firingTwo from a group that Alertmanager's max_alerts cut
// from five alerts to two.
func truncated() *alert.Message {
	m := firingTwo()
	m.TruncatedAlerts = 3
	return m
}

// large is a group of 60 alerts whose annotations and group label are far
// too long for PagerDuty.
func large() *alert.Message {
	cluster := strings.Repeat("eu-west-1-", 110)
	m := &alert.Message{
		Version: "4", GroupKey: `{}:{alertname="DiskFull"}`, Status: alert.StatusFiring, Receiver: "klaxon",
		GroupLabels:  map[string]string{"alertname": "DiskFull", "cluster": cluster},
		CommonLabels: map[string]string{"alertname": "DiskFull", "cluster": cluster, "severity": "warning"},
		ExternalURL:  "http://alertmanager:9093", TruncatedAlerts: 3,
	}
	for i := range 60 {
		host := fmt.Sprintf("db-%02d", i)
		m.Alerts = append(m.Alerts, newAlert(alert.StatusFiring,
			map[string]string{"alertname": "DiskFull", "cluster": cluster, "severity": "warning", "instance": host},
			map[string]string{"description": strings.Repeat("The disk of "+host+" is nearly full. ", 400),
				"runbook_url": "https://runbooks.example.com/diskfull.md#" + host}))
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
	return &Config{RoutingKey: testKey, URL: url, Summary: DefaultSummary, Source: DefaultSource,
		Severity: DefaultSeverities(), DefaultSeverity: DefaultSeverity, Client: DefaultClient, Timeout: DefaultTimeout}
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
	p, err := New(c, notify.Options{Template: tmpl, Client: &http.Client{}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGoldenEvents(t *testing.T) {
	override := func(c *Config) {
		c.Summary = `{{ .CommonLabels.alertname }} on {{ .CommonLabels.job }}: {{ (index .Alerts 0).Annotations.summary }}`
		c.Source = `{{ .CommonLabels.job }}.prod`
		c.Severity["critical"] = "warning"
		c.Client = "Acme monitoring"
		c.ClientURL = "https://alerts.acme.example/"
	}
	for _, tc := range []struct {
		name   string
		kind   notify.Kind
		msg    *alert.Message
		config func(*Config)
	}{
		{"firing", notify.KindTrigger, firingTwo(), nil},
		{"truncated", notify.KindTrigger, truncated(), nil},
		{"resolved", notify.KindResolve, resolved(), nil},
		{"large", notify.KindTrigger, large(), nil},
		{"hostile", notify.KindTrigger, hostile(), nil},
		{"template-override", notify.KindTrigger, firingTwo(), override},
		{"send-test", notify.KindTest, firingTwo(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := pagerdutytest.NewServer()
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
				t.Fatalf("fake accepted %d events, want 1", len(bodies))
			}
			testkit.GoldenJSON(t, filepath.Join("testdata", tc.name+".json"), bodies[0])
		})
	}
}

func TestLargeGroupHoldsLimits(t *testing.T) {
	fake := pagerdutytest.NewServer()
	defer fake.Close()
	var logs bytes.Buffer
	p := newNotifier(t, testConfig(fake.URL()), slog.New(slog.NewTextHandler(&logs, nil)))
	if err := p.Notify(context.Background(), notification(notify.KindTrigger, large())); err != nil {
		t.Fatal(err)
	}
	ev := fake.Received()[0]
	if got := len([]rune(ev.Payload.Summary)); got != maxSummary || !strings.HasSuffix(ev.Payload.Summary, "…") {
		t.Errorf("summary has %d runes ending %q, want %d ending with …", got, ev.Payload.Summary[len(ev.Payload.Summary)-8:], maxSummary)
	}
	if _, ok := ev.Payload.CustomDetails["error"]; !ok {
		t.Errorf("custom_details kept over the size cap: keys %v", ev.Payload.CustomDetails)
	}
	if len(fake.Bodies()[0]) > maxEventBytes {
		t.Errorf("event is %d bytes, over %d", len(fake.Bodies()[0]), maxEventBytes)
	}
	for _, want := range []string{"truncated pagerduty summary", "pagerduty event too large"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no warning %q in logs:\n%s", want, logs.String())
		}
	}
}

func TestHostileTextStaysInert(t *testing.T) {
	fake := pagerdutytest.NewServer()
	defer fake.Close()
	if err := newNotifier(t, testConfig(fake.URL()), nil).Notify(context.Background(), notification(notify.KindTrigger, hostile())); err != nil {
		t.Fatal(err)
	}
	ev := fake.Received()[0]
	want := "[FIRING:1] Pwn @everyone @here (<!channel> <@&123> critical)"
	if ev.Payload.Summary != want {
		t.Errorf("summary %q, want %q", ev.Payload.Summary, want)
	}
	details, _ := json.Marshal(ev.Payload.CustomDetails)
	if !strings.Contains(string(details), `{{ .ExternalURL }}`) {
		t.Errorf("annotation text was executed as a template: %s", details)
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
	for _, tc := range []struct {
		name  string
		setup func(*pagerdutytest.Server, *Config)
		want  want
	}{
		{"202 accepted", nil, want{ok: true}},
		{"200 ok", func(s *pagerdutytest.Server, _ *Config) {
			s.FailNext(1, fakeapi.Fault{Status: 200, Body: `{"status":"success"}`})
		}, want{ok: true}},
		{"400 rejected", func(_ *pagerdutytest.Server, c *Config) { c.RoutingKey = "too-short" },
			want{reason: notify.ReasonClientError, text: "pagerduty answered 400 Bad Request: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)"}},
		{"401", func(s *pagerdutytest.Server, _ *Config) { s.FailNext(1, fakeapi.Fault{Status: 401}) },
			want{reason: notify.ReasonAuthError, text: "pagerduty answered 401 Unauthorized: Unauthorized"}},
		{"403", func(s *pagerdutytest.Server, _ *Config) { s.FailNext(1, fakeapi.Fault{Status: 403}) },
			want{reason: notify.ReasonAuthError, text: "pagerduty answered 403 Forbidden: Forbidden"}},
		{"404", func(s *pagerdutytest.Server, c *Config) { c.URL = strings.TrimSuffix(c.URL, "enqueue") + "nowhere" },
			want{reason: notify.ReasonClientError, text: "pagerduty answered 404 Not Found: Not Found"}},
		{"429 with Retry-After", func(s *pagerdutytest.Server, _ *Config) {
			s.FailNext(1, fakeapi.Fault{Status: 429, RetryAfter: 90 * time.Second})
		},
			want{retry: true, after: 90 * time.Second, reason: notify.ReasonRateLimited, text: "429 Too Many Requests"}},
		{"429 from the rate limit", func(s *pagerdutytest.Server, _ *Config) { s.SetRateLimit(0, time.Minute) },
			want{retry: true, after: rateLimitWait, reason: notify.ReasonRateLimited, text: "arriving too quickly"}},
		{"500", func(s *pagerdutytest.Server, _ *Config) { s.FailNext(1, fakeapi.Fault{Status: 500}) },
			want{retry: true, reason: notify.ReasonServerError, text: "500 Internal Server Error"}},
		{"502", func(s *pagerdutytest.Server, _ *Config) { s.FailNext(1, fakeapi.Fault{Status: 502}) },
			want{retry: true, reason: notify.ReasonServerError, text: "502 Bad Gateway"}},
		{"503 with Retry-After", func(s *pagerdutytest.Server, _ *Config) {
			s.FailNext(1, fakeapi.Fault{Status: 503, RetryAfter: 5 * time.Second})
		},
			want{retry: true, after: 5 * time.Second, reason: notify.ReasonServerError, text: "503 Service Unavailable"}},
		{"connection dropped", func(s *pagerdutytest.Server, _ *Config) { s.FailNext(1, fakeapi.Fault{HangUp: true}) },
			want{retry: true, reason: notify.ReasonNetwork, text: "EOF"}},
		{"connection refused", func(_ *pagerdutytest.Server, c *Config) { c.URL = "http://" + testenv.FreeAddr(t) + "/v2/enqueue" },
			want{retry: true, reason: notify.ReasonNetwork, text: "connection refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := pagerdutytest.NewServer()
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

func TestSecretsNeverLeak(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "routing.key")
	if err := os.WriteFile(keyFile, []byte(testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func(*pagerdutytest.Server, *Config)
		msg   *alert.Message
	}{
		{"accepted", nil, firingTwo()},
		{"accepted from key file", func(_ *pagerdutytest.Server, c *Config) { c.RoutingKey, c.RoutingKeyFile = "", keyFile }, firingTwo()},
		{"truncated and too large", nil, large()},
		{"upstream echoes the key", func(s *pagerdutytest.Server, _ *Config) {
			s.FailNext(1, fakeapi.Fault{Status: 400, Body: `{"status":"invalid event","message":"Event object is invalid","errors":["unknown routing_key ` + testKey + `"]}`})
		}, firingTwo()},
		{"server error echoes the key", func(s *pagerdutytest.Server, _ *Config) {
			s.FailNext(1, fakeapi.Fault{Status: 500, Body: "key=" + testKey})
		}, firingTwo()},
		{"connection refused", func(_ *pagerdutytest.Server, c *Config) { c.URL = "http://" + testenv.FreeAddr(t) + "/v2/enqueue" }, firingTwo()},
		{"key file gone", func(_ *pagerdutytest.Server, c *Config) { c.RoutingKey, c.RoutingKeyFile = "", keyFile+".missing" }, firingTwo()},
		{"bad template", func(_ *pagerdutytest.Server, c *Config) { c.Summary = `{{ .CommonLabels.x | nosuchfunc }}` }, firingTwo()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := pagerdutytest.NewServer()
			defer fake.Close()
			c := testConfig(fake.URL())
			if tc.setup != nil {
				tc.setup(fake, c)
			}
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			tmpl, err := notify.NewTemplate(nil)
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			p, err := New(c, notify.Options{Template: tmpl, Client: &http.Client{}, Logger: logger})
			if err != nil {
				texts = append(texts, err.Error())
			} else if err := p.Notify(context.Background(), notification(notify.KindTrigger, tc.msg)); err != nil {
				texts = append(texts, err.Error())
			}
			texts = append(texts, logs.String())
			for _, s := range texts {
				if strings.Contains(s, testKey) {
					t.Errorf("routing key leaked into %q", s)
				}
			}
		})
	}
}

func TestSecretNotInMarshalledConfig(t *testing.T) {
	c := testConfig(DefaultURL)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), testKey) {
		t.Errorf("routing key in %s", b)
	}
}

func TestRoutingKeyFileReadAtSendTime(t *testing.T) {
	fake := pagerdutytest.NewServer()
	defer fake.Close()
	keyFile := filepath.Join(t.TempDir(), "routing.key")
	c := testConfig(fake.URL())
	c.RoutingKey, c.RoutingKeyFile = "", keyFile
	p := newNotifier(t, c, nil)
	second := "R-rotated-key"
	for _, key := range []string{"  " + testKey + "\n", second} {
		if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.Notify(context.Background(), notification(notify.KindResolve, resolved())); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, ev := range fake.Received() {
		got = append(got, ev.RoutingKey)
	}
	if diff := cmp.Diff([]string{testKey, second}, got); diff != "" {
		t.Errorf("routing keys (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(keyFile, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := p.Notify(context.Background(), notification(notify.KindResolve, resolved()))
	if retry, _, _ := notify.Classify(err); err == nil || !retry {
		t.Errorf("empty key file: err %v, want a retryable error", err)
	}
}

func TestNewRejectsBrokenTemplate(t *testing.T) {
	c := testConfig(DefaultURL)
	c.Source = `{{ .CommonLabels.job`
	_, err := New(c, notify.Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "checking pagerduty templates: rendering source: ") {
		t.Errorf("err %v, want a template error naming source", err)
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	c := testConfig(srv.URL + "/v2/enqueue")
	c.Timeout = time.Millisecond
	err := newNotifier(t, c, nil).Notify(context.Background(), notification(notify.KindTrigger, firingTwo()))
	if retry, _, reason := notify.Classify(err); !retry || reason != notify.ReasonTimeout {
		t.Errorf("err %v classified retry=%v reason=%s, want a retryable timeout", err, retry, reason)
	}
}

// TestHugeSourceAndClassStillFit shows that one label value far larger than
// PagerDuty's event cap still gives an event PagerDuty takes.
func TestHugeSourceAndClassStillFit(t *testing.T) {
	huge := strings.Repeat("x", 600_000)
	m := firingTwo()
	m.CommonLabels["alertname"] = huge
	m.CommonLabels["instance"] = huge
	n := notification(notify.KindTrigger, m)
	srv := pagerdutytest.NewServer()
	defer srv.Close()
	p := newNotifier(t, testConfig(srv.URL()), nil)
	if err := p.Notify(context.Background(), n); err != nil {
		t.Fatalf("a huge label made the page fail: %v", err)
	}
	got := srv.Received()
	if len(got) != 1 || len([]rune(got[0].Payload.Source)) > 1024 || len([]rune(got[0].Payload.Class)) > 1024 {
		t.Fatalf("received %d events; source and class must be cut to 1024 characters", len(got))
	}
}

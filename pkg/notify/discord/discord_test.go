package discord_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
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
	"github.com/klaxonhq/klaxon/pkg/notify/discord"
	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

const (
	hookID    = "1200000000000000001"
	hookToken = "sEcReT-t0ken-9f8e7d"
	critRole  = "111111111111111111"
	critUser  = "222222222222222222"
	escUser   = "333333333333333333"
	escRole   = "444444444444444444"
)

var t0 = time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC)

// fake starts a fake Discord with one webhook and no rate limit.
func fake(t *testing.T) (*discordtest.Server, string) {
	t.Helper()
	s := discordtest.NewServer()
	t.Cleanup(s.Close)
	s.SetRateLimit(0, 0)
	return s, s.AddWebhook(hookID, hookToken)
}

// notifier builds a notifier from YAML (webhook_url is added unless the
// YAML names a webhook) and returns it with its log.
func notifier(t *testing.T, url, extra string) (*discord.Notifier, *testenv.Buffer) {
	t.Helper()
	yml := "discord:\n" + extra
	if !strings.Contains(extra, "webhook_url") {
		yml += "  webhook_url: " + url + "\n"
	}
	c, err := decodeConfig(t, yml)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := notify.NewTemplate(nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	n, err := discord.New(c, notify.Options{
		Template: tmpl,
		Client:   &http.Client{},
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, logs
}

const mentionsYAML = `  mentions:
    critical: {roles: ["` + critRole + `"], users: ["` + critUser + `"]}
`

func mkAlert(name, instance, status string, annotations map[string]string) alert.Alert {
	a := alert.Alert{
		Status: status,
		Labels: map[string]string{
			"alertname": name, "instance": instance, "job": "api", "severity": "critical", "service": "payments",
		},
		Annotations:  annotations,
		StartsAt:     t0,
		GeneratorURL: "http://prometheus.example.com/graph?g0.expr=job%3Ahttp_errors%3Aratio_rate5m+%3E+0.05&g0.tab=1",
		Fingerprint:  fmt.Sprintf("%x", len(name+instance)),
	}
	if status == alert.StatusResolved {
		a.EndsAt = t0.Add(42 * time.Minute)
	}
	return a
}

func group(kind notify.Kind, status string, alerts ...alert.Alert) *notify.Notification {
	common := maps.Clone(alerts[0].Labels)
	for _, a := range alerts {
		maps.DeleteFunc(common, func(k, v string) bool { return a.Labels[k] != v })
	}
	m := &alert.Message{
		Version: "4", GroupKey: `{}:{alertname="HighErrorRate"}`, Status: status, Receiver: "klaxon",
		GroupLabels:  map[string]string{"alertname": alerts[0].Labels["alertname"]},
		CommonLabels: common,
		ExternalURL:  "http://alertmanager.example.com", Alerts: alerts,
	}
	return &notify.Notification{
		ID: 7, Channel: "ops-discord", Route: "payments", IncidentKey: alert.IncidentKey("payments", m.GroupKey),
		Kind: kind, Message: m, CreatedAt: t0.Add(time.Minute),
	}
}

func runbook(name string) map[string]string {
	return map[string]string{
		"summary":     "5xx ratio above 5% on " + name,
		"description": "The API answers job:http_errors:ratio_rate5m = 7.2% of requests with a 5xx status.",
		"runbook_url": "https://runbooks.example.com/runbooks/higherrorrate.md",
	}
}

func firingPair() *notify.Notification {
	n := group(notify.KindTrigger, alert.StatusFiring,
		mkAlert("HighErrorRate", "api-1:8080", alert.StatusFiring, runbook("api-1")),
		mkAlert("HighErrorRate", "api-2:8080", alert.StatusFiring, runbook("api-2")))
	n.Mentions = []string{"<@" + escUser + ">", "<@&" + escRole + ">", "@everyone", "<@" + critUser + ">"}
	return n
}

func resolvedPair() *notify.Notification {
	return group(notify.KindResolve, alert.StatusResolved,
		mkAlert("HighErrorRate", "api-1:8080", alert.StatusResolved, runbook("api-1")),
		mkAlert("HighErrorRate", "api-2:8080", alert.StatusResolved, runbook("api-2")))
}

// truncated is a group of five that Alertmanager's max_alerts cut to
// three: two firing, one resolved.
func truncated() *notify.Notification {
	n := group(notify.KindTrigger, alert.StatusFiring,
		mkAlert("HighErrorRate", "api-1:8080", alert.StatusFiring, runbook("api-1")),
		mkAlert("HighErrorRate", "api-2:8080", alert.StatusFiring, runbook("api-2")),
		mkAlert("HighErrorRate", "api-3:8080", alert.StatusResolved, runbook("api-3")))
	n.Message.TruncatedAlerts = 2
	return n
}

func sixty() *notify.Notification {
	var alerts []alert.Alert
	for i := range 60 {
		a := mkAlert("DiskFull", fmt.Sprintf("node-%02d:9100", i), alert.StatusFiring, map[string]string{
			"summary":     strings.Repeat("Disk almost full on a very busy node. ", 20),
			"description": strings.Repeat("Filesystem /var/lib/data has less than 5% space left and fills at 2 GiB/h. ", 80),
			"runbook_url": fmt.Sprintf("https://runbooks.example.com/runbooks/diskfull.md#node-%02d", i),
			"dashboard":   "https://grafana.example.com/d/disk?var-node=" + fmt.Sprint(i),
			"details":     strings.Repeat("x", 3000),
		})
		for j := range 30 {
			a.Labels[fmt.Sprintf("extra_%02d", j)] = strings.Repeat("v", 100)
		}
		alerts = append(alerts, a)
	}
	return group(notify.KindTrigger, alert.StatusFiring, alerts...)
}

// hostileTexts must reach nobody: they may not ping, and may not even look
// like mentions or markdown.
var hostileTexts = []string{"@everyone", "@here", "<!channel>", "<@&123>", "<@456>", "&<>", "**bold**", "[click](https://evil.example/x)"}

func hostile() *notify.Notification {
	a := alert.Alert{
		Status: alert.StatusFiring,
		Labels: map[string]string{
			"alertname": "Pwn @everyone", "severity": "critical", "instance": "<@&123>", "job": "<@456>",
			"team": "@here", "note": "<!channel> &<> **bold** [click](https://evil.example/x) `code` ||spoiler|| ~~gone~~ __u__",
		},
		Annotations: map[string]string{
			"summary":     "@everyone look at this <@&123>",
			"description": "<@456> @here\n> quoted\n- listed\n# heading\n```\ncode\n```\n&<> [click](https://evil.example/x)",
			"runbook_url": "javascript:alert(1)",
			"dashboard":   "https://evil.example/(x)<@&1>?q=@here",
		},
		StartsAt:    t0,
		Fingerprint: "f00",
	}
	return group(notify.KindTrigger, alert.StatusFiring, a)
}

// send delivers n through a fresh notifier and fake and returns what the
// fake accepted.
func send(t *testing.T, extra string, n *notify.Notification) (discordtest.Received, string) {
	t.Helper()
	s, url := fake(t)
	nf, logs := notifier(t, url, extra)
	if err := nf.Notify(context.Background(), n); err != nil {
		t.Fatalf("notify: %v\nlogs:\n%s", err, logs)
	}
	got := s.Received()
	if len(got) != 1 {
		t.Fatalf("the fake accepted %d messages, want 1", len(got))
	}
	if !got[0].Wait {
		t.Error("the message was not sent with ?wait=true")
	}
	return got[0], logs.String()
}

func TestMessages(t *testing.T) {
	userTemplates := `  title: '{{ .CommonLabels.alertname }} on {{ .CommonLabels.instance }} ({{ .Status }})'
  description: |-
    {{ .CommonAnnotations.summary }} [dashboard]({{ .CommonAnnotations.runbook_url }})
    {{ template "__subject" . }}
`
	for _, tc := range []struct {
		name, extra string
		n           *notify.Notification
		pings       []string
	}{
		{"firing", mentionsYAML, firingPair(), []string{"<@&" + critRole + ">", "<@&" + escRole + ">", "<@" + critUser + ">", "<@" + escUser + ">"}},
		{"resolved", mentionsYAML, resolvedPair(), []string{}},
		{"sixty", "", sixty(), []string{}},
		{"truncated", "", truncated(), []string{}},
		{"hostile", mentionsYAML, hostile(), []string{"<@&" + critRole + ">", "<@" + critUser + ">"}},
		{"user-template", userTemplates + "  username: Pager\n  avatar_url: https://example.com/klaxon.png\n", firingPair(), []string{"<@&" + escRole + ">", "<@" + escUser + ">", "<@" + critUser + ">"}},
		{"send-test", mentionsYAML, &notify.Notification{Channel: "ops-discord", Kind: notify.KindTest, CreatedAt: t0}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := send(t, tc.extra, tc.n)
			testkit.GoldenJSON(t, filepath.Join("testdata", tc.name+".golden.json"), got.Raw)
			if diff := cmp.Diff(tc.pings, got.Pings()); diff != "" {
				t.Errorf("pings (-want +got):\n%s", diff)
			}
		})
	}
}

// embedTexts is every text of the embeds that Discord renders.
func embedTexts(m discordtest.Message) []string {
	var out []string
	for _, e := range m.Embeds {
		out = append(out, e.Title, e.Description)
		if e.Footer != nil {
			out = append(out, e.Footer.Text)
		}
		for _, f := range e.Fields {
			out = append(out, f.Name, f.Value)
		}
	}
	return out
}

func TestHostileTextReachesNobody(t *testing.T) {
	got, _ := send(t, mentionsYAML, hostile())
	am := got.Body.AllowedMentions
	if am == nil || len(am.Parse) != 0 {
		t.Fatalf("allowed_mentions %+v, want parse: []", am)
	}
	for _, text := range embedTexts(got.Body) {
		for _, bad := range hostileTexts {
			if strings.Contains(text, bad) {
				t.Errorf("embed text holds %q unescaped: %q", bad, text)
			}
		}
	}
	if strings.Contains(got.Body.Content, "everyone") || strings.Contains(got.Body.Content, "123") {
		t.Errorf("content holds alert text: %q", got.Body.Content)
	}
}

func TestSixtyAlertsHoldLimits(t *testing.T) {
	got, logs := send(t, "", sixty())
	if n := len(got.Body.Embeds); n != 10 {
		t.Errorf("%d embeds, want 10", n)
	}
	if !strings.Contains(got.Body.Content, "and 50 more not shown") {
		t.Errorf("content %q does not count the alerts not shown", got.Body.Content)
	}
	if !strings.Contains(logs, "truncated to fit Discord's limits") {
		t.Errorf("no truncation warning in the logs:\n%s", logs)
	}
	for i, e := range got.Body.Embeds {
		if !strings.HasSuffix(e.Fields[len(e.Fields)-1].Value, fmt.Sprintf("#node-%02d)", i)) {
			t.Errorf("embed %d: the runbook link was cut or lost: %+v", i, e.Fields[len(e.Fields)-1])
		}
		if !strings.Contains(e.Description, "…") {
			t.Errorf("embed %d: the description was not cut with …", i)
		}
	}
}

func TestMaxAlerts(t *testing.T) {
	got, _ := send(t, "  max_alerts: 1\n", resolvedPair())
	if n := len(got.Body.Embeds); n != 1 || !strings.Contains(got.Body.Content, "and 1 more not shown") {
		t.Errorf("%d embeds, content %q; want 1 embed and 1 more", n, got.Body.Content)
	}
}

func TestFailingTemplateFallsBack(t *testing.T) {
	// The template passes the start-up check on the sample alert and
	// fails on the real one.
	extra := `  title: '{{ if eq .CommonLabels.alertname "Sample" }}ok{{ else }}{{ index .Alerts 5 }}{{ end }}'` + "\n"
	got, logs := send(t, extra, resolvedPair())
	if title := got.Body.Embeds[0].Title; title != "[RESOLVED] HighErrorRate" {
		t.Errorf("title %q, want the built-in one", title)
	}
	if !strings.Contains(logs, "discord template failed") {
		t.Errorf("no warning in the logs:\n%s", logs)
	}
}

func TestNewRejectsBadTemplate(t *testing.T) {
	c, err := decodeConfig(t, "discord:\n  webhook_url: https://discord.com/api/webhooks/1/x\n  description: '{{ .Nope'\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = discord.New(c, notify.Options{Logger: promslog.NewNopLogger()})
	if err == nil || !strings.HasPrefix(err.Error(), "discord description template: ") {
		t.Errorf("New: %v, want a description template error", err)
	}
}

func TestWebhookFileReadAtSend(t *testing.T) {
	s, _ := fake(t)
	other := s.AddWebhook("1200000000000000002", "second-token")
	file := filepath.Join(t.TempDir(), "url")
	write := func(url string) {
		if err := os.WriteFile(file, []byte(url+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(s.WebhookURL(hookID, hookToken))
	n, _ := notifier(t, "", "  webhook_url_file: "+file+"\n")
	for _, url := range []string{"", other} {
		if url != "" {
			write(url)
		}
		if err := n.Notify(context.Background(), resolvedPair()); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, r := range s.Received() {
		ids = append(ids, r.WebhookID)
	}
	if diff := cmp.Diff([]string{hookID, "1200000000000000002"}, ids); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
}

type outcome struct {
	OK         bool
	Retry      bool
	RetryAfter time.Duration
	Reason     string
	Status     int
	Text       string
}

func classify(err error) outcome {
	if err == nil {
		return outcome{OK: true}
	}
	o := outcome{Text: err.Error()}
	o.Retry, o.RetryAfter, o.Reason = notify.Classify(err)
	var e *notify.Error
	if errors.As(err, &e) {
		o.Status = e.StatusCode
	}
	return o
}

// failureCases drive a notifier into each of Discord's answers.
var failureCases = []struct {
	name  string
	setup func(s *discordtest.Server) (url string)
	want  outcome
}{
	{"200", nil, outcome{OK: true}},
	{"204", answer(fakeapi.Fault{Status: 204}), outcome{OK: true}},
	{"400", answer(fakeapi.Fault{Status: 400}), outcome{Reason: "clientError", Status: 400,
		Text: "discord answered 400 Bad Request: Invalid Form Body (code 50035): content: Must be 2000 or fewer in length."}},
	{"401", answer(fakeapi.Fault{Status: 401}), outcome{Reason: "authError", Status: 401,
		Text: "discord answered 401 Unauthorized: Invalid Webhook Token (code 50027)"}},
	{"403", answer(fakeapi.Fault{Status: 403}), outcome{Reason: "authError", Status: 403,
		Text: "discord answered 403 Forbidden: Missing Permissions (code 50013)"}},
	{"404 unknown webhook", func(s *discordtest.Server) string { return s.WebhookURL("1300000000000000000", hookToken) },
		outcome{Reason: "clientError", Status: 404, Text: "discord answered 404 Not Found: Unknown Webhook (code 10015)"}},
	{"429", answer(fakeapi.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond}), outcome{Retry: true, RetryAfter: 1500 * time.Millisecond,
		Reason: "rateLimited", Status: 429, Text: "discord answered 429 Too Many Requests: You are being rate limited. (code 0), retry after 1.5s"}},
	{"429 global", answer(discordtest.GlobalRateLimit(250 * time.Millisecond)), outcome{Retry: true, RetryAfter: 250 * time.Millisecond,
		Reason: "rateLimited", Status: 429, Text: "discord answered 429 Too Many Requests: You are being rate limited. (code 0), retry after 0.25s (global limit)"}},
	{"500", answer(fakeapi.Fault{Status: 500}), outcome{Retry: true, Reason: "serverError", Status: 500,
		Text: "discord answered 500 Internal Server Error: 500: Internal Server Error (code 0)"}},
	{"502", answer(fakeapi.Fault{Status: 502}), outcome{Retry: true, Reason: "serverError", Status: 502,
		Text: "discord answered 502 Bad Gateway: <html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"}},
	{"503", answer(fakeapi.Fault{Status: 503}), outcome{Retry: true, Reason: "serverError", Status: 503,
		Text: "discord answered 503 Service Unavailable: <html><head><title>503 Service Unavailable</title></head><body><center><h1>503 Service Unavailable</h1></center></body></html>"}},
}

func answer(f fakeapi.Fault) func(*discordtest.Server) string {
	return func(s *discordtest.Server) string {
		s.FailNext(1, f)
		return ""
	}
}

func TestRetryClassification(t *testing.T) {
	for _, tc := range failureCases {
		t.Run(tc.name, func(t *testing.T) {
			s, url := fake(t)
			if tc.setup != nil {
				if u := tc.setup(s); u != "" {
					url = u
				}
			}
			n, _ := notifier(t, url, "")
			got := classify(n.Notify(context.Background(), firingPair()))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			if s.Attempts() != 1 {
				t.Errorf("%d requests, want 1", s.Attempts())
			}
		})
	}
}

func TestRetryOnTransportFailures(t *testing.T) {
	t.Run("connection closed", func(t *testing.T) {
		s, url := fake(t)
		s.FailNext(1, fakeapi.Fault{HangUp: true})
		n, _ := notifier(t, url, "")
		if got := classify(n.Notify(context.Background(), firingPair())); !got.Retry || got.Reason != "network" {
			t.Errorf("outcome %+v, want a retryable network error", got)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		s, url := fake(t)
		s.Close()
		n, _ := notifier(t, url, "")
		got := classify(n.Notify(context.Background(), firingPair()))
		if !got.Retry || got.Reason != "network" || !strings.Contains(got.Text, "connection refused") {
			t.Errorf("outcome %+v, want a retryable connection refused", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		s, url := fake(t)
		s.FailNext(1, fakeapi.Fault{Stall: true})
		n, _ := notifier(t, url, "  timeout: 50ms\n")
		got := classify(n.Notify(context.Background(), firingPair()))
		if !got.Retry || got.Reason != "timeout" || !strings.Contains(got.Text, "configured discord timeout of 50ms reached") {
			t.Errorf("outcome %+v, want a retryable timeout naming the configured timeout", got)
		}
	})
	t.Run("rate limit of the webhook", func(t *testing.T) {
		s, url := fake(t)
		now := t0
		s.SetClock(func() time.Time { return now })
		s.SetRateLimit(1, 2*time.Second)
		n, _ := notifier(t, url, "")
		outcomes := []outcome{classify(n.Notify(context.Background(), firingPair())), classify(n.Notify(context.Background(), firingPair()))}
		if !outcomes[0].OK || !outcomes[1].Retry || outcomes[1].RetryAfter != 2*time.Second {
			t.Errorf("outcomes %+v, want ok then retry after 2s", outcomes)
		}
	})
}

func TestSecretsStayHidden(t *testing.T) {
	secrets := []string{hookToken, "/api/webhooks/" + hookID}
	check := func(t *testing.T, what, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the webhook URL: %s", what, text)
			}
		}
	}
	setups := map[string]func(s *discordtest.Server) string{
		"closed":  answer(fakeapi.Fault{HangUp: true}),
		"hang":    answer(fakeapi.Fault{Stall: true}),
		"refused": func(s *discordtest.Server) string { s.Close(); return "" },
	}
	for _, tc := range failureCases {
		if tc.setup != nil {
			setups[tc.name] = tc.setup
		}
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			s, url := fake(t)
			if u := setup(s); u != "" {
				url = u
			}
			n, logs := notifier(t, url, "  timeout: 50ms\n"+mentionsYAML)
			nt := sixty()
			nt.Mentions = []string{"<@bogus>"}
			err := n.Notify(context.Background(), nt)
			if err != nil {
				check(t, "error", err.Error())
			}
			check(t, "log", logs.String())
		})
	}
	t.Run("bad file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "url")
		if err := os.WriteFile(file, []byte("discord.com/api/webhooks/"+hookID+"/"+hookToken), 0o600); err != nil {
			t.Fatal(err)
		}
		n, logs := notifier(t, "", "  webhook_url_file: "+file+"\n")
		err := n.Notify(context.Background(), firingPair())
		got := classify(err)
		if !got.Retry || got.Text != "webhook_url_file: the URL must be an absolute http or https URL" {
			t.Errorf("outcome %+v", got)
		}
		check(t, "error", err.Error())
		check(t, "log", logs.String())
	})
	t.Run("config", func(t *testing.T) {
		_, err := decodeConfig(t, "discord:\n  webhook_url: ':/discord.com/api/webhooks/"+hookID+"/"+hookToken+"'\n")
		if err == nil {
			t.Fatal("no error")
		}
		check(t, "config error", err.Error())
	})
}

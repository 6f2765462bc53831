package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/klaxonhq/klaxon/internal/receivertest"
	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/receiver/client"
	"github.com/klaxonhq/klaxon/runbooks"
)

// escBearer guards the escalation tests' receiver.
const escBearer = "s3cret-bearer-escalate"

// escStart is when the escalation tests' incidents start: alice holds the
// primary schedule all that week.
var escStart = time.Date(2026, 3, 10, 8, 50, 0, 0, time.UTC)

// escConfig is a route critical whose policy pages the primary schedule
// at once, senior after 30m and manager after 1h, through one Slack
// channel.
const escConfig = `global:
  bearer_token: ` + escBearer + `
channels:
  - name: slack
    slack:
      webhook_url: %q
routes:
  - name: critical
    channels: [slack]
    escalation_policy: default
  - name: warning
    channels: [slack]
users:
  - name: alice
    slack_id: U01ALICE0
  - name: senior
    slack_id: U04SENIOR
  - name: manager
    slack_id: U05MANAGR
schedules:
  - name: primary
    time_zone: UTC
    layers:
      - rotation: weekly
        handoff: "09:00"
        start: 2026-01-05
        participants: [alice]
escalation_policies:
  - name: default
    levels:
      - delay: 0s
        targets: [{schedule: primary}]
      - delay: 30m
        targets: [{user: senior}]
      - delay: 1h
        targets: [{user: manager}]
storage:
  path: %q
`

// escHarness is a Service on a real store with a fake Slack, its clock
// injected and its deliverer running.
type escHarness struct {
	svc     *Service
	clock   *testkit.Clock
	slack   *slacktest.Server
	handler http.Handler
	reg     *prometheus.Registry
	logs    *testenv.Buffer
	// added counts the escalator's wakes of the deliverer: one per update
	// that added deliveries.
	added atomic.Int32
	stop  func()
}

// newEscHarness starts a service on the store in dir, which a later
// harness may reopen.
func newEscHarness(t *testing.T, dir string, fake *slacktest.Server, webhookURL string, now time.Time) *escHarness {
	t.Helper()
	return newEscHarnessWith(t, escConfig, dir, fake, webhookURL, now)
}

// newEscHarnessWith is newEscHarness with another config, a format like
// escConfig's.
func newEscHarnessWith(t *testing.T, config, dir string, fake *slacktest.Server, webhookURL string, now time.Time) *escHarness {
	t.Helper()
	file := filepath.Join(dir, "receiver.yml")
	conf := fmt.Sprintf(config, webhookURL, filepath.Join(dir, "receiver.db"))
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &escHarness{clock: testkit.NewClock(now), slack: fake, reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}}
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := newService(t.Context(), Options{ConfigFile: file, Runbooks: runbooks.FS, Registerer: h.reg, Logger: logger},
		func(wake incident.Waker) incident.Waker {
			return receivertest.WakeFunc(func() { h.added.Add(1); wake.Wake() })
		})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	svc.Config.Get().Now = h.clock.Now
	mux := http.NewServeMux()
	if err := svc.Handler(mux); err != nil {
		t.Fatal(err)
	}
	h.handler = mux
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Deliverer.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			svc.Close()
		})
	}
	t.Cleanup(h.stop)
	return h
}

var bearerHeader = http.Header{"Authorization": {"Bearer " + escBearer}}

// fire posts a firing notification of group g with the given alerts.
func (h *escHarness) post(t *testing.T, msg *alert.Message) string {
	t.Helper()
	a := receivertest.Serve(t, h.handler, http.MethodPost, "/webhook/critical", receivertest.Encode(t, msg), bearerHeader)
	if a.Code != http.StatusOK {
		t.Fatalf("webhook answered %d: %s", a.Code, a.Raw)
	}
	return a.Resp.Incident
}

// tick sets the clock to at and runs one escalation tick.
func (h *escHarness) tick(t *testing.T, at time.Time) {
	t.Helper()
	h.clock.Set(at)
	if err := h.svc.Incidents.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// awaitSlack waits until Slack has shown want notifications and returns
// each one's summary: its mentions and headline.
func (h *escHarness) awaitSlack(t *testing.T, want int) []string {
	t.Helper()
	var out []string
	testenv.Eventually(t, 10*time.Second, func() error {
		out = nil
		for _, r := range h.slack.Received() {
			out = append(out, summaries(r)...)
		}
		if len(out) < want {
			return fmt.Errorf("Slack received %d notifications, want %d", len(out), want)
		}
		return nil
	})
	return out
}

// summaries are the mentions and what a Slack message says about the
// escalation, one for each notification it shows: a digest, which
// notifications that waited for the channel together share, shows
// several, and the lines that page get the digest's mentions.
func summaries(r slacktest.Request) []string {
	if len(r.Message.Attachments) != 1 || !strings.Contains(r.Message.Attachments[0].Footer, "notifications in one message") {
		return []string{summary(r.Message.Text, r.Mentions)}
	}
	var out []string
	for _, line := range strings.Split(r.Message.Attachments[0].Text, "\n") {
		switch {
		case strings.HasPrefix(line, "*[ACKNOWLEDGED by "):
			by, _, _ := strings.Cut(strings.TrimPrefix(line, "*[ACKNOWLEDGED by "), "]*")
			out = append(out, "acknowledged by "+by)
		case strings.HasPrefix(line, "*[ESCALATED to level "):
			level, _, _ := strings.Cut(strings.TrimPrefix(line, "*[ESCALATED to level "), "]*")
			out = append(out, strings.Join(append(slices.Clone(r.Mentions), "level "+level), " "))
		case strings.HasPrefix(line, "*[RESOLVED]"):
			out = append(out, summary("", nil))
		default:
			out = append(out, summary("", r.Mentions))
		}
	}
	return out
}

// summary is a message's mentions and what its text says about the
// escalation.
func summary(text string, mentions []string) string {
	var what string
	switch {
	case strings.Contains(text, "acknowledged by"):
		_, by, _ := strings.Cut(text, "acknowledged by ")
		what = "acknowledged by " + by
	case strings.Contains(text, "escalated to level"):
		_, level, _ := strings.Cut(text, "escalated to level ")
		what = "level " + level
	default:
		what = "trigger"
	}
	return strings.Join(append(slices.Clone(mentions), what), " ")
}

// incident returns the one open incident.
func (h *escHarness) incident(t *testing.T) incident.Summary {
	t.Helper()
	list, err := h.svc.Incidents.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d open incidents, want 1: %+v", len(list), list)
	}
	return list[0]
}

func (h *escHarness) openIncidents(t *testing.T) int {
	t.Helper()
	list, err := h.svc.Incidents.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func firing(fps ...string) *alert.Message {
	var alerts []string
	for _, fp := range fps {
		alerts = append(alerts, fp+"="+alert.StatusFiring)
	}
	return receivertest.Message("{}:{alertname=\"HighErrorRate\"}", alert.StatusFiring, alerts...)
}

// TestEscalationToLevel2 starts an incident from the webhook, escalates it
// to level 2 at its delay to the second, and stops it with an
// acknowledgement.
func TestEscalationToLevel2(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	h := newEscHarness(t, t.TempDir(), fake, fake.NewWebhook(), escStart)
	key := h.post(t, firing("a"))
	if diff := cmp.Diff([]string{"<@U01ALICE0> trigger"}, h.awaitSlack(t, 1)); diff != "" {
		t.Errorf("Slack messages after the trigger (-want +got):\n%s", diff)
	}
	in := h.incident(t)
	want := incident.Summary{ID: key, Route: "critical", Policy: "default", Level: 1, Loop: 1, Started: escStart, NextEscalation: escStart.Add(30 * time.Minute)}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("incident after the trigger (-want +got):\n%s", diff)
	}

	h.tick(t, escStart.Add(30*time.Minute-time.Second))
	if got := h.added.Load(); got != 0 {
		t.Errorf("a tick a second before level 2 added deliveries %d times", got)
	}
	h.tick(t, escStart.Add(30*time.Minute))
	if diff := cmp.Diff([]string{"<@U01ALICE0> trigger", "<@U04SENIOR> level 2"}, h.awaitSlack(t, 2)); diff != "" {
		t.Errorf("Slack messages after level 2's delay (-want +got):\n%s", diff)
	}

	h.clock.Set(escStart.Add(40 * time.Minute))
	if _, err := h.svc.Incidents.Acknowledge(t.Context(), key, "alice"); err != nil {
		t.Fatal(err)
	}
	h.tick(t, escStart.Add(3*time.Hour))
	got := h.awaitSlack(t, 3)
	if diff := cmp.Diff([]string{"<@U01ALICE0> trigger", "<@U04SENIOR> level 2", "acknowledged by alice"}, got); diff != "" {
		t.Errorf("Slack messages after the acknowledgement (-want +got):\n%s", diff)
	}
	if n := h.added.Load(); n != 2 {
		t.Errorf("deliveries added %d times, want 2 (level 2 and the acknowledgement)", n)
	}
	in = h.incident(t)
	if in.AckedBy != "alice" || !in.AckedAt.Equal(escStart.Add(40*time.Minute)) || !in.NextEscalation.IsZero() {
		t.Errorf("incident after the acknowledgement: %+v", in)
	}
	if _, err := h.svc.Incidents.Acknowledge(t.Context(), key, "bob"); err != nil {
		t.Errorf("second acknowledgement: %v", err)
	}
	if n := h.added.Load(); n != 2 {
		t.Errorf("a second acknowledgement added deliveries")
	}
}

// TestEscalationRepeatPagesNobody sends Alertmanager's repeat of an
// unchanged group: nobody is paged again and the timer stays.
func TestEscalationRepeatPagesNobody(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	h := newEscHarness(t, t.TempDir(), fake, fake.NewWebhook(), escStart)
	key := h.post(t, firing("a"))
	h.clock.Set(escStart.Add(10 * time.Minute))
	repeat := firing("a")
	repeat.NotificationReason = escalation.ReasonRepeat
	h.post(t, repeat)
	if n := h.added.Load(); n != 0 {
		t.Errorf("the repeat added deliveries %d times", n)
	}
	if next := h.incident(t).NextEscalation; !next.Equal(escStart.Add(30 * time.Minute)) {
		t.Errorf("next escalation after the repeat: %v, want %v", next, escStart.Add(30*time.Minute))
	}
	if _, err := h.svc.Incidents.Acknowledge(t.Context(), key, "alice"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"<@U01ALICE0> trigger", "acknowledged by alice"}, h.awaitSlack(t, 2)); diff != "" {
		t.Errorf("Slack messages (-want +got):\n%s", diff)
	}
}

// TestEscalationNewAlertsRepage adds an alert to an acknowledged
// incident: the current level is paged again.
func TestEscalationNewAlertsRepage(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	h := newEscHarness(t, t.TempDir(), fake, fake.NewWebhook(), escStart)
	key := h.post(t, firing("a"))
	if _, err := h.svc.Incidents.Acknowledge(t.Context(), key, "alice"); err != nil {
		t.Fatal(err)
	}
	h.clock.Set(escStart.Add(5 * time.Minute))
	h.post(t, firing("a", "b"))
	want := []string{"<@U01ALICE0> trigger", "acknowledged by alice", "<@U01ALICE0> trigger", "<@U01ALICE0> level 1"}
	if diff := cmp.Diff(want, h.awaitSlack(t, 4)); diff != "" {
		t.Errorf("Slack messages (-want +got):\n%s", diff)
	}
	if in := h.incident(t); in.AckedBy != "" || !in.NextEscalation.Equal(escStart.Add(35*time.Minute)) {
		t.Errorf("incident after new alerts: %+v", in)
	}
}

// TestEscalationResolve stops paging mid-escalation, by Alertmanager's
// resolve and by hand.
func TestEscalationResolve(t *testing.T) {
	for _, by := range []string{"alertmanager", "hand"} {
		t.Run(by, func(t *testing.T) {
			fake := slacktest.NewServer()
			defer fake.Close()
			h := newEscHarness(t, t.TempDir(), fake, fake.NewWebhook(), escStart)
			key := h.post(t, firing("a"))
			h.tick(t, escStart.Add(30*time.Minute))
			h.clock.Set(escStart.Add(45 * time.Minute))
			if by == "hand" {
				if _, err := h.svc.Incidents.Resolve(t.Context(), key, "alice"); err != nil {
					t.Fatal(err)
				}
			} else {
				h.post(t, receivertest.Message("{}:{alertname=\"HighErrorRate\"}", alert.StatusResolved, "a="+alert.StatusResolved))
			}
			if n := h.openIncidents(t); n != 0 {
				t.Errorf("%d open incidents after the resolve", n)
			}
			h.tick(t, escStart.Add(5*time.Hour))
			if n := h.added.Load(); n != 1 {
				t.Errorf("deliveries added %d times, want 1 (level 2)", n)
			}
			_, ackErr := h.svc.Incidents.Acknowledge(t.Context(), key, "alice")
			_, resolveErr := h.svc.Incidents.Resolve(t.Context(), key, "alice")
			for _, err := range []error{ackErr, resolveErr} {
				if !errors.Is(err, incident.ErrNotFound) {
					t.Errorf("change of a resolved incident: %v, want incident.ErrNotFound", err)
				}
			}
		})
	}
}

// TestEscalationRestart closes the service mid-escalation and reopens it
// on the same store past two levels' delays: each missed level pages
// exactly once, late.
func TestEscalationRestart(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	dir, hook := t.TempDir(), fake.NewWebhook()
	first := newEscHarness(t, dir, fake, hook, escStart)
	first.post(t, firing("a"))
	first.awaitSlack(t, 1)
	first.stop()

	second := newEscHarness(t, dir, fake, hook, escStart.Add(2*time.Hour))
	second.tick(t, escStart.Add(2*time.Hour))
	second.tick(t, escStart.Add(2*time.Hour+time.Second))
	// Both missed levels wait for the channel together: one digest
	// shows both and pages both levels' targets.
	want := []string{"<@U01ALICE0> trigger", "<@U04SENIOR> <@U05MANAGR> level 2", "<@U04SENIOR> <@U05MANAGR> level 3"}
	if diff := cmp.Diff(want, second.awaitSlack(t, 3)); diff != "" {
		t.Errorf("Slack messages after the restart (-want +got):\n%s", diff)
	}
	if n := second.added.Load(); n != 1 {
		t.Errorf("deliveries added %d times after the restart, want 1", n)
	}
	if in := second.incident(t); in.Level != 3 || !in.NextEscalation.IsZero() {
		t.Errorf("incident after the restart: %+v", in)
	}
}

// TestIncidentsAPI lists, acknowledges and resolves an incident through
// the HTTP API and the CLI client, behind the bearer token.
func TestIncidentsAPI(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	h := newEscHarness(t, t.TempDir(), fake, fake.NewWebhook(), escStart)
	key := h.post(t, firing("a"))
	zeros := strings.Repeat("0", 8)
	if a := receivertest.Serve(t, h.handler, http.MethodGet, "/api/v1/incidents", nil, nil); a.Code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", a.Code)
	}
	a := receivertest.Serve(t, h.handler, http.MethodGet, "/api/v1/incidents", nil, bearerHeader)
	wantList := `{"incidents":[{"id":"` + key + `","route":"critical","policy":"default","level":1,"loop":1,` +
		`"started":"2026-03-10T08:50:00Z","next_escalation":"2026-03-10T09:20:00Z"}]}` + "\n"
	if diff := cmp.Diff(wantList, a.Raw); diff != "" {
		t.Errorf("GET /api/v1/incidents (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		target, body string
		code         int
		answer       string
	}{
		{"/api/v1/incidents/nope/ack", `{"by":"alice"}`, http.StatusBadRequest, `{"error":"\"nope\" is not an incident ID: IDs are hexadecimal, as the incidents command lists them"}`},
		{"/api/v1/incidents/" + key[:7] + "/ack", `{"by":"alice"}`, http.StatusBadRequest, `{"error":"incident ID \"` + key[:7] + `\" is too short: give at least 8 characters, as the incidents command lists them"}`},
		{"/api/v1/incidents/" + zeros + "/ack", `{"by":"alice"}`, http.StatusNotFound, `{"error":"incident ` + zeros + `: no such open incident"}`},
		{"/api/v1/incidents/" + key + "/ack", `by alice`, http.StatusBadRequest, `{"error":"body must be JSON {\"by\": \"name\"}: invalid character 'b' looking for beginning of value"}`},
		{"/api/v1/incidents/" + key[:8] + "/ack", `{"by":"alice"}`, http.StatusOK, `{"status":"acknowledged","id":"` + key + `","acked_by":"alice","acked_at":"2026-03-10T08:50:00Z"}`},
		{"/api/v1/incidents/" + key + "/ack", `{"by":"Alice"}`, http.StatusOK, `{"status":"already acknowledged","id":"` + key + `","acked_by":"alice","acked_at":"2026-03-10T08:50:00Z"}`},
		{"/api/v1/incidents/" + strings.ToUpper(key[:12]) + "/ack", `{"by":"bob"}`, http.StatusConflict, `{"error":"incident ` + key[:8] + ` was already acknowledged by alice at 2026-03-10T08:50:00Z","id":"` + key + `","acked_by":"alice","acked_at":"2026-03-10T08:50:00Z"}`},
		{"/api/v1/incidents/" + key[:10] + "/resolve", ``, http.StatusOK, `{"status":"resolved","id":"` + key + `"}`},
		{"/api/v1/incidents/" + key + "/resolve", ``, http.StatusNotFound, `{"error":"incident ` + key + `: no such open incident"}`},
	} {
		a := receivertest.Serve(t, h.handler, http.MethodPost, tc.target, []byte(tc.body), bearerHeader)
		if a.Code != tc.code || strings.TrimSpace(a.Raw) != tc.answer {
			t.Errorf("POST %s %s: %d %s, want %d %s", tc.target, tc.body, a.Code, a.Raw, tc.code, tc.answer)
		}
	}
	if diff := cmp.Diff([]string{"<@U01ALICE0> trigger", "acknowledged by alice"}, h.awaitSlack(t, 2)); diff != "" {
		t.Errorf("Slack messages (-want +got):\n%s", diff)
	}
}

// TestIncidentMetrics checks the incident metrics and the time to
// acknowledge, and that no secret shows in them, the API or the logs.
func TestIncidentMetrics(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	hook := fake.NewWebhook()
	h := newEscHarness(t, t.TempDir(), fake, hook, escStart)
	h.post(t, firing("a"))
	other := receivertest.Message("{}:{alertname=\"Other\"}", alert.StatusFiring, "x="+alert.StatusFiring)
	h.clock.Set(escStart.Add(10 * time.Minute))
	second := h.post(t, other)
	h.tick(t, escStart.Add(time.Hour))
	if _, err := h.svc.Incidents.Acknowledge(t.Context(), second, "alice"); err != nil {
		t.Fatal(err)
	}
	h.awaitSlack(t, 6)
	want := `# HELP klaxon_receiver_incident_oldest_unacknowledged_age_seconds Age of the oldest open incident nobody acknowledged, by route; 0 when there is none.
# TYPE klaxon_receiver_incident_oldest_unacknowledged_age_seconds gauge
klaxon_receiver_incident_oldest_unacknowledged_age_seconds{route="critical"} 3600
# HELP klaxon_receiver_incidents_by_level Open incidents by route and the escalation level last paged (0: none yet).
# TYPE klaxon_receiver_incidents_by_level gauge
klaxon_receiver_incidents_by_level{level="1",route="critical"} 0
klaxon_receiver_incidents_by_level{level="2",route="critical"} 1
klaxon_receiver_incidents_by_level{level="3",route="critical"} 1
# HELP klaxon_receiver_incidents_open Open incidents with an escalation, by route.
# TYPE klaxon_receiver_incidents_open gauge
klaxon_receiver_incidents_open{route="critical"} 2
# HELP klaxon_receiver_incidents_past_last_level Open incidents nobody acknowledged although their policy's last level was paged, by route.
# TYPE klaxon_receiver_incidents_past_last_level gauge
klaxon_receiver_incidents_past_last_level{route="critical"} 1
# HELP klaxon_receiver_incidents_unacknowledged Open incidents nobody acknowledged, by route.
# TYPE klaxon_receiver_incidents_unacknowledged gauge
klaxon_receiver_incidents_unacknowledged{route="critical"} 1
# HELP klaxon_receiver_time_to_acknowledge_seconds Time from an incident's start to its first acknowledgement, by route.
# TYPE klaxon_receiver_time_to_acknowledge_seconds histogram
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="30"} 0
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="60"} 0
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="120"} 0
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="300"} 0
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="600"} 0
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="900"} 0
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="1800"} 0
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="3600"} 1
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="7200"} 1
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="14400"} 1
klaxon_receiver_time_to_acknowledge_seconds_bucket{route="critical",le="+Inf"} 1
klaxon_receiver_time_to_acknowledge_seconds_sum{route="critical"} 3000
klaxon_receiver_time_to_acknowledge_seconds_count{route="critical"} 1
`
	names := []string{"klaxon_receiver_incidents_open", "klaxon_receiver_incidents_unacknowledged",
		"klaxon_receiver_incident_oldest_unacknowledged_age_seconds", "klaxon_receiver_incidents_past_last_level",
		"klaxon_receiver_time_to_acknowledge_seconds", "klaxon_receiver_incidents_by_level"}
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	token := hook[strings.LastIndex(hook, "/")+1:]
	list := receivertest.Serve(t, h.handler, http.MethodGet, "/api/v1/incidents", nil, bearerHeader).Raw
	refused := receivertest.Serve(t, h.handler, http.MethodPost, "/api/v1/incidents/nope/ack", []byte(`{"by":"x"}`), nil).Raw
	for what, text := range map[string]string{"logs": h.logs.String(), "list": list, "refusal": refused, "metrics": gather(t, h.reg)} {
		for _, secret := range []string{escBearer, token} {
			if strings.Contains(text, secret) {
				t.Errorf("%s show a secret:\n%s", what, text)
			}
		}
	}
}

// gather is the registry's metrics in the text format.
func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range families {
		b.WriteString(f.String())
	}
	return b.String()
}

// TestRunEscalations runs the ticker as receiver/main.go does: a level
// that is due pages without a call to Tick, and Run returns when its
// context ends.
func TestRunEscalations(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	h := newEscHarness(t, t.TempDir(), fake, fake.NewWebhook(), escStart)
	h.post(t, firing("a"))
	// Delivered before level 2 is due, so that the two pages do not
	// share a digest, whose mentions no line could claim.
	h.awaitSlack(t, 1)
	h.clock.Set(escStart.Add(30 * time.Minute))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.svc.Incidents.Run(ctx) }()
	if diff := cmp.Diff([]string{"<@U01ALICE0> trigger", "<@U04SENIOR> level 2"}, h.awaitSlack(t, 2)); diff != "" {
		t.Errorf("Slack messages (-want +got):\n%s", diff)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunEscalations: %v", err)
	}
}

// TestIncidentCommands runs the incidents, ack and resolve commands'
// client against a receiver's API with the bearer token from a file.
func TestIncidentCommands(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	h := newEscHarness(t, t.TempDir(), fake, fake.NewWebhook(), escStart)
	key := h.post(t, firing("a"))
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	receivertest.WriteFile(t, tokenFile, escBearer+"\n")
	c := &client.Client{URL: srv.URL + "/", BearerTokenFile: tokenFile}
	var out strings.Builder
	if err := c.ShowIncidents(t.Context(), &out); err != nil {
		t.Fatal(err)
	}
	if err := c.Acknowledge(t.Context(), key, "alice", &out); err != nil {
		t.Fatal(err)
	}
	if err := c.ShowIncidents(t.Context(), &out); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(t.Context(), key, &out); err != nil {
		t.Fatal(err)
	}
	if err := c.ShowIncidents(t.Context(), &out); err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, filepath.Join("testdata", "incident-commands.golden"), strings.ReplaceAll(out.String(), alert.ShortID(key), "SHORTID"))
	err := c.Resolve(t.Context(), key, &out)
	want := "receiver answered 404: incident " + key + ": no such open incident"
	if err == nil || err.Error() != want {
		t.Errorf("resolving again: %v, want %s", err, want)
	}
	noToken := &client.Client{URL: srv.URL}
	if err := noToken.ShowIncidents(t.Context(), &out); err == nil || err.Error() != "receiver answered 401: missing or wrong bearer token" {
		t.Errorf("without the token: %v", err)
	}
}

package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/internal/receivertest"
	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/api"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/runbooks"
)

// The tests of this file run two receivers, each a Service with its own
// pool, workers and escalation ticker, on one PostgreSQL database, as
// replicas do (docs/ha.md), and check what that page promises of them.

// replicaSecret is the ack_secret both replicas share.
const replicaSecret = "replica-ack-secret-0123456789abcdefghij"

// replicaConfig is the replicas' config: route critical pages alice at
// once and senior after a minute, through Slack, and runs through both
// levels twice (loop_after: 2m); route pager sends to PagerDuty and
// Slack, without a policy. The store is the database of the DSN given.
const replicaConfig = `global:
  bearer_token: ` + escBearer + `
  ack_secret: ` + replicaSecret + `
channels:
  - name: slack
    slack:
      webhook_url: %q
  - name: pagerduty
    pagerduty:
      routing_key: 0123456789abcdef0123456789abcdef
      url: %q
routes:
  - name: critical
    channels: [slack]
    escalation_policy: default
  - name: pager
    channels: [pagerduty, slack]
users:
  - name: alice
    slack_id: U01ALICE0
  - name: senior
    slack_id: U04SENIOR
escalation_policies:
  - name: default
    repeat: 1
    levels:
      - delay: 0s
        targets: [{user: alice}]
      - delay: 1m
        targets: [{user: senior}]
storage:
  postgres:
    dsn: %q
    max_conns: 4
  takeover_after: 3s
`

// replicas are receivers on one database, with the fake upstreams they
// send to.
type replicas struct {
	slack *slacktest.Server
	pd    *pagerdutytest.Server
	file  string
}

// newReplicas writes the config of replicas on a fresh database.
func newReplicas(t *testing.T) *replicas {
	t.Helper()
	r := &replicas{slack: slacktest.NewServer(), pd: pagerdutytest.NewServer()}
	t.Cleanup(r.slack.Close)
	t.Cleanup(r.pd.Close)
	r.file = filepath.Join(t.TempDir(), "receiver.yml")
	receivertest.WriteFile(t, r.file, fmt.Sprintf(replicaConfig, r.slack.NewWebhook(), r.pd.URL(), testenv.PostgresDatabase(t)))
	return r
}

// replica is one running receiver.
type replica struct {
	name    string
	svc     *Service
	handler http.Handler
	logs    *testenv.Buffer
}

// start starts a replica on the config, its escalations on clock when
// it is not nil, and stops it when the test ends; its logs are shown if
// the test fails.
func (r *replicas) start(t *testing.T, name string, clock *testkit.Clock) *replica {
	t.Helper()
	rep := &replica{name: name, logs: &testenv.Buffer{}}
	logger := slog.New(slog.NewTextHandler(rep.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", name)
	svc, err := NewService(t.Context(), Options{ConfigFile: r.file, Runbooks: runbooks.FS, Registerer: prometheus.NewRegistry(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Ready(); err != nil {
		t.Fatalf("replica %s: %v", name, err)
	}
	if clock != nil {
		svc.Config.Get().Now = clock.Now
	}
	rep.svc = svc
	mux := http.NewServeMux()
	if err := svc.Handler(mux); err != nil {
		t.Fatal(err)
	}
	rep.handler = mux
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("replica %s: Run: %v", name, err)
		}
		if err := svc.Close(); err != nil {
			t.Errorf("replica %s: Close: %v", name, err)
		}
		if t.Failed() {
			t.Logf("replica %s's logs:\n%s", name, rep.logs)
		}
	})
	return rep
}

// post posts msg to the route's webhook and returns the answer, which
// must be 200.
func (rep *replica) post(t *testing.T, route string, msg *alert.Message) api.Response {
	t.Helper()
	a := receivertest.Serve(t, rep.handler, http.MethodPost, "/webhook/"+route, receivertest.Encode(t, msg), bearerHeader)
	if a.Code != http.StatusOK {
		t.Fatalf("replica %s: webhook answered %d: %s", rep.name, a.Code, a.Raw)
	}
	return a.Resp
}

// incidents lists the open incidents through the replica's API.
func (rep *replica) incidents(t *testing.T) []incident.Summary {
	t.Helper()
	a := receivertest.Serve(t, rep.handler, http.MethodGet, "/api/v1/incidents", nil, bearerHeader)
	if a.Code != http.StatusOK {
		t.Fatalf("replica %s: GET /api/v1/incidents: %d %s", rep.name, a.Code, a.Raw)
	}
	var list api.IncidentsResponse
	if err := json.Unmarshal([]byte(a.Raw), &list); err != nil {
		t.Fatal(err)
	}
	return list.Incidents
}

// change posts to the incident's API action, ack or resolve, and
// returns the answer's code and body.
func (rep *replica) change(t *testing.T, key, action, by string) (int, string) {
	t.Helper()
	body := []byte(`{"by":"` + by + `"}`)
	a := receivertest.Serve(t, rep.handler, http.MethodPost, "/api/v1/incidents/"+key+"/"+action, body, bearerHeader)
	return a.Code, strings.TrimSpace(a.Raw)
}

// page gets a page of the status page and returns its code and body.
func (rep *replica) page(t *testing.T, method, target, form string) (int, string) {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, target, strings.NewReader(form))
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	rep.handler.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// settle waits until every delivery is made, no escalation is due at
// now, and Slack has shown at least want notifications, and returns
// what Slack showed. Once all that holds nothing more is sent until a
// notification, a change or the clock makes it so.
func (r *replicas) settle(t *testing.T, rep *replica, now time.Time, want int) []string {
	t.Helper()
	var shown []string
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := drained(t.Context(), rep, now); err != nil {
			return err
		}
		shown = nil
		for _, req := range r.slack.Received() {
			shown = append(shown, summaries(req)...)
		}
		if len(shown) < want {
			return fmt.Errorf("Slack has shown %d notifications, want %d: %q", len(shown), want, shown)
		}
		return nil
	})
	return shown
}

// drained says what is still to do in the shared store: a pending
// delivery, a dead letter or an escalation due at now.
func drained(ctx context.Context, rep *replica, now time.Time) error {
	stats, err := rep.svc.Store.Stats(ctx)
	if err != nil {
		return err
	}
	for _, s := range stats {
		if s.Pending > 0 || s.Dead > 0 {
			return fmt.Errorf("channel %s: %d pending, %d dead", s.Channel, s.Pending, s.Dead)
		}
	}
	escalations, err := rep.svc.Store.OpenEscalations(ctx)
	if err != nil {
		return err
	}
	for _, e := range escalations {
		if !e.NextAt.IsZero() && !e.NextAt.After(now) {
			return fmt.Errorf("incident %s: escalation due at %v", e.IncidentKey, e.NextAt)
		}
	}
	return nil
}

// TestReplicasShareIncidents: an incident opened by a webhook to one
// replica is listed by the other's API and status page; an
// acknowledgement and a resolve on the other are seen by the first.
func TestReplicasShareIncidents(t *testing.T) {
	rs := newReplicas(t)
	a, b := rs.start(t, "a", nil), rs.start(t, "b", nil)
	key := a.post(t, "critical", firing("x")).Incident

	list := b.incidents(t)
	if len(list) != 1 || list[0].ID != key || list[0].AckedBy != "" || list[0].Level != 1 {
		t.Fatalf("incidents on b after a's webhook: %+v, want %s at level 1", list, key)
	}
	code, body := b.page(t, http.MethodGet, "/", "")
	if code != http.StatusOK || !strings.Contains(body, "/incidents/"+key+"/ack") {
		t.Errorf("b's status page: %d, want 200 with the incident's Acknowledge button:\n%s", code, body)
	}

	if code, body := b.change(t, key, "ack", "Carol"); code != http.StatusOK || !strings.Contains(body, `"status":"acknowledged"`) {
		t.Fatalf("ack on b: %d %s", code, body)
	}
	if list := a.incidents(t); len(list) != 1 || list[0].AckedBy != "Carol" || !list[0].NextEscalation.IsZero() {
		t.Errorf("incidents on a after b's ack: %+v, want it acknowledged by Carol, no escalation next", list)
	}
	code, body = a.page(t, http.MethodGet, "/", "")
	if code != http.StatusOK || !strings.Contains(body, "Carol") || strings.Contains(body, "/incidents/"+key+"/ack") {
		t.Errorf("a's status page after b's ack: %d, want it to name Carol and offer no Acknowledge button:\n%s", code, body)
	}
	if code, body := a.change(t, key, "ack", "Bob"); code != http.StatusConflict || !strings.Contains(body, "already acknowledged by Carol") {
		t.Errorf("ack by another on a after b's: %d %s, want 409 naming Carol", code, body)
	}

	if code, body := b.change(t, key, "resolve", "Carol"); code != http.StatusOK {
		t.Fatalf("resolve on b: %d %s", code, body)
	}
	if list := a.incidents(t); len(list) != 0 {
		t.Errorf("incidents on a after b's resolve: %+v, want none", list)
	}
	if code, body := a.change(t, key, "resolve", "Bob"); code != http.StatusNotFound {
		t.Errorf("resolve on a after b's: %d %s, want 404", code, body)
	}
	want := []string{"<@U01ALICE0> trigger", "acknowledged by Carol"}
	if diff := cmp.Diff(want, rs.settle(t, a, time.Now(), len(want))); diff != "" {
		t.Errorf("Slack messages (-want +got):\n%s", diff)
	}
}

// TestReplicasAckLink: a link one replica signed works on the other,
// once: used on one, it is refused on the other as already used, and
// used on both at once, it acknowledges once.
func TestReplicasAckLink(t *testing.T) {
	rs := newReplicas(t)
	a, b := rs.start(t, "a", nil), rs.start(t, "b", nil)
	key := a.post(t, "critical", firing("x")).Incident
	path := ackPath(t, a, key)

	if code, body := b.page(t, http.MethodGet, path, ""); code != http.StatusOK || !strings.Contains(body, "Acknowledge this incident?") {
		t.Errorf("GET of a's link on b: %d, want 200 asking to confirm:\n%s", code, body)
	}
	if code, body := b.page(t, http.MethodPost, path, "name=Dana"); code != http.StatusOK || !strings.Contains(body, "acknowledged by Dana") {
		t.Fatalf("a's link on b: %d, want 200:\n%s", code, body)
	}
	if list := a.incidents(t); len(list) != 1 || list[0].AckedBy != "Dana" {
		t.Errorf("incidents on a after the link on b: %+v, want it acknowledged by Dana", list)
	}
	if code, body := a.page(t, http.MethodPost, path, "name=Erin"); code != http.StatusConflict || !strings.Contains(body, "This link was already used") {
		t.Errorf("the link again, on a: %d, want 409 already used:\n%s", code, body)
	}

	other := receivertest.Message(`{}:{alertname="Other"}`, alert.StatusFiring, "y="+alert.StatusFiring)
	second := b.post(t, "critical", other).Incident
	path = ackPath(t, b, second)
	answers := make([]string, 2)
	var wg sync.WaitGroup
	for i, rep := range []*replica{a, b} {
		wg.Go(func() {
			code, body := rep.page(t, http.MethodPost, path, "name="+rep.name)
			answers[i] = fmt.Sprint(code)
			if strings.Contains(body, "This link was already used") {
				answers[i] += " already used"
			}
		})
	}
	wg.Wait()
	slices.Sort(answers)
	if diff := cmp.Diff([]string{"200", "409 already used"}, answers); diff != "" {
		t.Errorf("b's link used on a and b at once (-want +got):\n%s", diff)
	}
	want := []string{"<@U01ALICE0> trigger", "acknowledged by Dana", "<@U01ALICE0> trigger", "acknowledged by "}
	got := rs.settle(t, a, time.Now(), len(want))
	if len(got) == len(want) {
		// Whichever replica's use came first acknowledged.
		got[3] = strings.TrimRight(got[3], "ab")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Slack messages (-want +got):\n%s", diff)
	}
}

// ackPath is the path of the acknowledgement link rep signs for the
// incident now.
func ackPath(t *testing.T, rep *replica, key string) string {
	t.Helper()
	link, err := rep.svc.Config.Get().AckURL(key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// TestReplicasEscalateOnce: with both replicas ticking, and ticking
// together when a level falls due, each level is paged once; an
// acknowledgement on one stops the escalation on both.
func TestReplicasEscalateOnce(t *testing.T) {
	rs := newReplicas(t)
	clock := testkit.NewClock(escStart)
	a, b := rs.start(t, "a", clock), rs.start(t, "b", clock)
	key := a.post(t, "critical", firing("x")).Incident
	want := []string{"<@U01ALICE0> trigger"}
	if diff := cmp.Diff(want, rs.settle(t, a, escStart, len(want))); diff != "" {
		t.Fatalf("Slack messages after the trigger (-want +got):\n%s", diff)
	}

	at := escStart.Add(time.Minute)
	tickTogether(t, clock, at, a, b)
	want = append(want, "<@U04SENIOR> level 2")
	if diff := cmp.Diff(want, rs.settle(t, b, at, len(want))); diff != "" {
		t.Fatalf("Slack messages after level 2's delay (-want +got):\n%s", diff)
	}

	clock.Set(escStart.Add(90 * time.Second))
	if code, body := b.change(t, key, "ack", "Carol"); code != http.StatusOK {
		t.Fatalf("ack on b: %d %s", code, body)
	}
	// The second loop would page alice at 2m and senior at 3m.
	for _, at := range []time.Time{escStart.Add(2 * time.Minute), escStart.Add(3 * time.Minute)} {
		tickTogether(t, clock, at, a, b)
	}
	want = append(want, "acknowledged by Carol")
	if diff := cmp.Diff(want, rs.settle(t, a, escStart.Add(3*time.Minute), len(want))); diff != "" {
		t.Errorf("Slack messages after the ack on b (-want +got):\n%s", diff)
	}
	if list := a.incidents(t); len(list) != 1 || list[0].Level != 2 || list[0].AckedBy != "Carol" || !list[0].NextEscalation.IsZero() {
		t.Errorf("incidents on a: %+v, want level 2 acknowledged by Carol, no escalation next", list)
	}
}

// tickTogether sets the clock to at and has each replica tick at once,
// besides the ticks of their own loops.
func tickTogether(t *testing.T, clock *testkit.Clock, at time.Time, reps ...*replica) {
	t.Helper()
	clock.Set(at)
	errs := make([]error, len(reps))
	var wg sync.WaitGroup
	for i, rep := range reps {
		wg.Go(func() { errs[i] = rep.svc.Incidents.Tick(t.Context()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestReplicasDuplicateNotifications: two Alertmanagers of a cluster
// post the same groups to both replicas at the same moment; each group's
// firing and its resolve is recorded once and sent once to PagerDuty and
// Slack, the other copy answered as a duplicate.
func TestReplicasDuplicateNotifications(t *testing.T) {
	const groups = 5
	rs := newReplicas(t)
	a, b := rs.start(t, "a", nil), rs.start(t, "b", nil)
	for _, status := range []string{alert.StatusFiring, alert.StatusResolved} {
		for g := range groups {
			resps := make([]api.Response, 2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, rep := range []*replica{a, b} {
				msg := receivertest.Message(fmt.Sprintf(`{}:{alertname="Group%d"}`, g), status, fmt.Sprintf("fp%d=%s", g, status))
				// Each Alertmanager names itself.
				msg.ExternalURL = fmt.Sprintf("http://alertmanager-%d:9093", i)
				wg.Go(func() {
					<-start
					resps[i] = rep.post(t, "pager", msg)
				})
			}
			close(start)
			wg.Wait()
			if resps[0].Duplicate == resps[1].Duplicate || resps[0].Deliveries+resps[1].Deliveries != 2 {
				t.Errorf("group %d, %s, posted to a and b: %+v, want one recorded with 2 deliveries and one duplicate", g, status, resps)
			}
		}
	}
	rs.settle(t, a, time.Now(), 2*groups)
	var events []string
	for _, ev := range rs.pd.Received() {
		events = append(events, ev.EventAction+" "+ev.DedupKey)
	}
	slices.Sort(events)
	var want []string
	for _, action := range []string{"resolve", "trigger"} {
		for g := range groups {
			want = append(want, action+" "+alert.IncidentKey("pager", fmt.Sprintf(`{}:{alertname="Group%d"}`, g)))
		}
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("PagerDuty events (-want +got):\n%s", diff)
	}
	var shown int
	for _, req := range rs.slack.Received() {
		shown += len(summaries(req))
	}
	if shown != 2*groups {
		t.Errorf("Slack showed %d notifications, want %d: each group's firing and resolve once", shown, 2*groups)
	}
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/internal/demoapp"
	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/opsgenie/opsgenietest"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/pkg/notify/webhook/webhooktest"
)

// timeScale shortens every for:, rule range window and Alertmanager
// timing of the deployed files: a minute becomes a second.
const timeScale = 1.0 / 60

// The escalation policy's levels, from the incident's start.
const (
	level2Delay = 10 * time.Second
	level3Delay = 40 * time.Second
)

const (
	// startTimeout bounds how long a process may take to become ready.
	startTimeout = time.Minute
	// alertTimeout bounds the way from a fault to a delivered page: scrapes,
	// rule windows and for: (seconds after scaling), Alertmanager's
	// group_wait, the receiver's outbox and the upstreams' rate limits, on
	// a loaded machine.
	alertTimeout = 90 * time.Second
	// onTime is how late after its due time an escalation level may be
	// paged and still count as on time: timers fire to the second, and the
	// rest is the machine's load.
	onTime = 15 * time.Second
)

// Secrets of the fakes.
const (
	routingKey   = "0123456789abcdef0123456789abcdef"
	opsgenieKey  = "opsgenie-e2e-key"
	monitorPath  = "/ping/e2e-heartbeat"
	monitorToken = "monitor-e2e-token"
)

// The people of testdata/klaxon-receiver.yml.tmpl, as messages mention them.
const (
	aliceSlack     = "<@U01ALICE0>"
	aliceDiscord   = "<@100000000000000001>"
	seniorSlack    = "<@U04SENIOR>"
	seniorDiscord  = "<@100000000000000004>"
	managerSlack   = "<@U05MANAGR>"
	managerDiscord = "<@100000000000000005>"
	acker          = "e2e-oncall"
)

// TestPipeline runs the whole pipeline and breaks the application, its
// health endpoint, a Redis queue and PostgreSQL's connections at once;
// each alert must reach the upstreams its route names.
func TestPipeline(t *testing.T) {
	s := startStack(t)
	heartbeats := s.awaitHeartbeats(t, 1)

	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range []struct {
			name string
			run  func(*testing.T, *stack)
		}{
			{"error rate and escalation", testErrorRate},
			{"latency", testLatency},
			{"health endpoint", testHealth},
			{"redis queue", testQueue},
			{"postgres connections", testConnections},
		} {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				sc.run(t, s)
			})
		}
	})

	// Every panel of the dashboards has data now that every scenario has
	// run: alerts fired, the receiver delivered, escalated and was
	// acknowledged. Host metrics join only now (their alerts depend on
	// the machine).
	s.addHostExporter(t)
	t.Run("dashboards", func(t *testing.T) { checkDashboards(t, s.prom.URL, dashboardFiles(t, "*.json"), withAnnotations) })

	// The Watchdog kept arriving at the heartbeat route all along, and
	// still does.
	now := s.awaitHeartbeats(t, heartbeats+1)
	if now < heartbeats+10 {
		t.Errorf("%v Watchdog notifications reached the heartbeat route during the scenarios, want one every second or so", now-heartbeats)
	}
	// The monitor got the Watchdog once, through the generic webhook
	// channel: its repeats restate the same state, which is no news.
	checkMonitor(t, s.monitor.Received())
	t.Logf("delivered: PagerDuty %d events, Opsgenie %d created and %d closed, Slack %d messages, Discord %d; %v heartbeats",
		len(s.pd.Received()), len(s.og.Received()), len(s.og.Closed()), len(s.slack.Received()), len(s.discord.Received()), now)
}

// checkMonitor wants the heartbeat route's one message to the monitor:
// the Watchdog firing, in the webhook channel's default body.
func checkMonitor(t *testing.T, got []webhooktest.Request) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("the monitor got %d requests, want the Watchdog's one", len(got))
	}
	var body struct {
		Status string `json:"status"`
		Alerts []struct {
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
		Klaxon struct {
			Kind, Route, Channel string
		} `json:"klaxon"`
	}
	if err := json.Unmarshal(got[0].Body, &body); err != nil {
		t.Fatalf("the monitor's request: %v\n%s", err, got[0].Body)
	}
	if body.Status != "firing" || len(body.Alerts) != 1 || body.Alerts[0].Labels["alertname"] != "Watchdog" ||
		body.Klaxon.Kind != "trigger" || body.Klaxon.Route != "heartbeat" || body.Klaxon.Channel != "monitor" {
		t.Errorf("the monitor got %s, want the Watchdog firing, a trigger of route heartbeat through channel monitor", got[0].Body)
	}
}

// stack is everything TestPipeline starts.
type stack struct {
	pd          *pagerdutytest.Server
	og          *opsgenietest.Server
	slack       *slacktest.Server
	oncall      string // the token of the critical route's Slack webhook
	warnings    string // the token of the warning route's Slack webhook
	discord     *discordtest.Server
	monitor     *webhooktest.Server // the heartbeat route's monitor
	failing     *demoapp.App        // fails when told; the other replica stays healthy
	slow        *demoapp.App        // slows down and stops its health endpoint when told
	receiverURL string
	am          *testenv.Alertmanager
	prom        *testenv.Prometheus
	redis       *redis.Client
	queue       string
	pgDSN       string
	procs       []*testenv.Process
}

func startStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{pgDSN: testenv.PostgresDSN(t)}
	redisAddr := testenv.RedisAddr(t)
	for _, p := range []string{"prometheus", "prometheus-alertmanager", "promtool"} {
		testenv.Program(t, p)
	}
	t.Cleanup(func() { s.checkNothingLeft(t) })
	exporterBin := testenv.Binary(t, "klaxon-exporter")
	receiverBin := testenv.Binary(t, "klaxon-receiver")
	dir := t.TempDir()

	s.startFakes(t)
	failingURL, slowURL := s.startApps(t)

	receiverAddr := testenv.FreeAddr(t)
	s.receiverURL = "http://" + receiverAddr
	conf := s.receiverConfig(t, dir)
	p := testenv.StartProcess(t, "", receiverBin, "--config.file="+conf, "--web.listen-address="+receiverAddr)
	p.WaitReady(t, s.receiverURL+"/-/ready", startTimeout)
	s.procs = append(s.procs, p)

	s.redis = redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { s.redis.Close() })
	s.queue = fmt.Sprintf("klaxon-e2e:%d:%d:jobs", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() { s.redis.Del(context.Background(), s.queue) })
	exporterAddr := testenv.FreeAddr(t)
	conf = exporterConfig(t, dir, s.pgDSN, redisAddr, s.queue, slowURL+"/health")
	// Host collectors are off: their alerts depend on the machine the test
	// runs on, and they are tested on their own.
	p = testenv.StartProcess(t, "", exporterBin, "--config.file="+conf, "--web.listen-address="+exporterAddr,
		"--collector.disable-defaults")
	p.WaitReady(t, "http://"+exporterAddr+"/-/ready", startTimeout)
	s.procs = append(s.procs, p)

	s.am = testenv.StartAlertmanager(t, testenv.AlertmanagerOptions{WebhookBase: s.receiverURL, TimeScale: timeScale})
	s.prom = testenv.StartPrometheus(t, testenv.PrometheusOptions{
		Targets: map[string][]string{
			"klaxon-exporter": {exporterAddr},
			"klaxon-receiver": {receiverAddr},
			"app":             {strings.TrimPrefix(failingURL, "http://"), strings.TrimPrefix(slowURL, "http://")},
		},
		Alertmanager: strings.TrimPrefix(s.am.URL, "http://"),
		TimeScale:    timeScale,
	})
	s.procs = append(s.procs, s.am.Process, s.prom.Process)
	testenv.Eventually(t, startTimeout, func() error {
		v, err := s.prom.Query(t.Context(), `up == 1`)
		if err == nil && len(v) != 4 {
			err = fmt.Errorf("%d of 4 targets up", len(v))
		}
		return err
	})
	return s
}

func (s *stack) startFakes(t *testing.T) {
	s.pd, s.og = pagerdutytest.NewServer(), opsgenietest.NewServer(opsgenieKey)
	s.slack, s.discord = slacktest.NewServer(), discordtest.NewServer()
	s.monitor = webhooktest.NewServer(webhooktest.Expect{Method: http.MethodPost, Path: monitorPath,
		ContentType: "application/json", Header: map[string]string{"X-Monitor-Token": monitorToken}})
	t.Cleanup(func() { s.pd.Close(); s.og.Close(); s.slack.Close(); s.discord.Close(); s.monitor.Close() })
}

// startApps starts two replicas of the demo application, the job "app"
// of deploy/prometheus, and sends each ten requests a second until the
// test ends, without waiting for answers, as users do.
func (s *stack) startApps(t *testing.T) (failingURL, slowURL string) {
	s.failing, s.slow = demoapp.New(), demoapp.New()
	failing, slow := httptest.NewServer(s.failing), httptest.NewServer(s.slow)
	t.Cleanup(failing.Close)
	t.Cleanup(slow.Close)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, url := range []string{failing.URL, slow.URL} {
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					wg.Go(func() { get(ctx, url+"/api/items") })
				}
			}
		})
	}
	return failing.URL, slow.URL
}

func get(ctx context.Context, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// receiverConfig renders testdata/klaxon-receiver.yml.tmpl into dir.
func (s *stack) receiverConfig(t *testing.T, dir string) string {
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "klaxon-receiver.yml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	oncallURL, warningsURL := s.slack.NewWebhook(), s.slack.NewWebhook()
	s.oncall = strings.TrimPrefix(oncallURL, s.slack.URL()+"/services/")
	s.warnings = strings.TrimPrefix(warningsURL, s.slack.URL()+"/services/")
	var b bytes.Buffer
	err = tmpl.Execute(&b, map[string]any{
		"ReceiverURL":         s.receiverURL,
		"StoragePath":         filepath.Join(dir, "receiver.db"),
		"PagerDutyRoutingKey": routingKey,
		"PagerDutyURL":        s.pd.URL(),
		"OpsgenieAPIKey":      opsgenieKey,
		"OpsgenieURL":         s.og.URL(),
		"SlackOncallURL":      oncallURL,
		"SlackWarningsURL":    warningsURL,
		"DiscordURL":          s.discord.AddWebhook("112233445566778899", "discord-e2e-token"),
		"MonitorURL":          s.monitor.URL() + monitorPath,
		"MonitorToken":        monitorToken,
		"Level2Delay":         level2Delay.String(),
		"Level3Delay":         level3Delay.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, filepath.Join(dir, "klaxon-receiver.yml"), b.Bytes())
}

// exporterConfig adapts deploy/exporter/klaxon-exporter.yml: its postgres
// and redis probes point at the test's servers, the redis probe watches
// the test's queue only, and a probe of the application's health endpoint
// is added (the deployed file has it commented out).
func exporterConfig(t *testing.T, dir, pgDSN, redisAddr, queue, healthURL string) string {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(t), "deploy", "exporter", "klaxon-exporter.yml")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Probes []map[string]any `yaml:"probes"`
	}
	if err := yaml.Unmarshal(b, &conf); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	var adapted []string
	for _, p := range conf.Probes {
		if pg, ok := p["postgres"].(map[string]any); ok {
			pg["dsn"] = pgDSN
			adapted = append(adapted, "postgres")
		}
		if r, ok := p["redis"].(map[string]any); ok {
			r["address"] = redisAddr
			r["queues"] = []map[string]string{{"key": queue}}
			adapted = append(adapted, "redis")
		}
	}
	if !slices.Equal(adapted, []string{"postgres", "redis"}) {
		t.Fatalf("%s: probes %v, want one postgres and one redis probe to adapt", src, adapted)
	}
	conf.Probes = append(conf.Probes, map[string]any{
		"name": "app",
		"http": map[string]any{"url": healthURL, "health": map[string]any{}},
	})
	out, err := yaml.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, filepath.Join(dir, "klaxon-exporter.yml"), out)
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testErrorRate makes one replica answer every request with 500: the
// high-error-rate alert pages every upstream with the runbook and the
// on-call engineer; nobody acknowledges, so level 2 is paged at its delay;
// an acknowledgement through the API stops the escalation before level 3;
// healing resolves the page everywhere.
func testErrorRate(t *testing.T, s *stack) {
	if err := s.failing.SetFailRatio(1); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.failing.SetFailRatio(0) }()
	ev := s.awaitTrigger(t, "HighErrorRate")
	key := ev.DedupKey
	runbook := s.receiverURL + "/runbooks/higherrorrate"
	if !slices.Contains(ev.Links, pagerdutytest.Link{Href: runbook, Text: "Runbook: HighErrorRate"}) {
		t.Errorf("PagerDuty trigger links %v, want the runbook %s", ev.Links, runbook)
	}
	testenv.Eventually(t, alertTimeout, func() error {
		for _, a := range s.og.Received() {
			if a.Alias == key {
				if !strings.Contains(a.Details["runbook_url"], runbook) {
					t.Errorf("Opsgenie alert details %v, want runbook_url %s", a.Details, runbook)
				}
				return nil
			}
		}
		return fmt.Errorf("no Opsgenie alert with alias %s yet", key)
	})
	m := s.awaitSlack(t, s.oncall, "HighErrorRate", trigger)
	checkMessage(t, "Slack trigger", slackText(m), m.Mentions, runbook, aliceSlack)
	d := s.awaitDiscord(t, "HighErrorRate", trigger)
	checkMessage(t, "Discord trigger", discordText(d), d.Pings(), runbook, aliceDiscord)

	// Nobody acknowledges: level 2 is paged on time.
	inc := s.awaitLevel(t, key, 2)
	escalated := func(level int) func(string) bool {
		return func(text string) bool { return strings.Contains(text, fmt.Sprintf("escalated to level %d", level)) }
	}
	ackAt := time.Now()
	s.ack(t, key)
	m = s.awaitSlack(t, s.oncall, "HighErrorRate", escalated(2))
	checkMessage(t, "Slack level 2", slackText(m), m.Mentions, runbook, seniorSlack)
	d = s.awaitDiscord(t, "HighErrorRate", escalated(2))
	checkMessage(t, "Discord level 2", discordText(d), d.Pings(), runbook, seniorDiscord)

	// The acknowledgement stops the escalation: the channels hear who has
	// it, and level 3 is never paged, not even after its due time.
	acked := func(text string) bool { return strings.Contains(text, "acknowledged by "+acker) }
	s.awaitSlack(t, s.oncall, "HighErrorRate", acked)
	s.awaitDiscord(t, "HighErrorRate", acked)
	if got := s.incident(t, key); got == nil || got.AckedBy != acker || !got.NextEscalation.IsZero() {
		t.Errorf("incident after the acknowledgement: %+v, want acked by %s and no next escalation", got, acker)
	}
	due3 := inc.Started.Add(level3Delay)
	if ackAt.After(due3) {
		t.Fatalf("acknowledged at %s, after level 3 was due (%s): the machine is too slow for this check", ackAt, due3)
	}
	waitUntil(t, due3.Add(2*time.Second))

	// Healed: PagerDuty resolves, Opsgenie closes, Slack and Discord say so.
	if err := s.failing.SetFailRatio(0); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, alertTimeout, func() error {
		for _, e := range s.pd.Received() {
			if e.EventAction == "resolve" && e.DedupKey == key {
				return nil
			}
		}
		return fmt.Errorf("no PagerDuty resolve for %s yet", key)
	})
	testenv.Eventually(t, alertTimeout, func() error {
		for _, c := range s.og.Closed() {
			if c.Alias == key {
				return nil
			}
		}
		return fmt.Errorf("no Opsgenie close for %s yet", key)
	})
	resolved := func(text string) bool { return strings.Contains(text, "RESOLVED") }
	s.awaitSlack(t, s.oncall, "HighErrorRate", resolved)
	s.awaitDiscord(t, "HighErrorRate", resolved)

	for _, r := range s.slack.Received() {
		if text := slackText(r); r.Webhook == s.oncall && strings.Contains(text, "HighErrorRate") &&
			(escalated(3)(text) || slices.Contains(r.Mentions, managerSlack)) {
			t.Errorf("Slack got level 3 after the acknowledgement: %s", text)
		}
	}
	for _, r := range s.discord.Received() {
		if text := discordText(r); strings.Contains(text, "HighErrorRate") &&
			(escalated(3)(text) || slices.Contains(r.Pings(), managerDiscord)) {
			t.Errorf("Discord got level 3 after the acknowledgement: %s", text)
		}
	}
}

// testLatency slows one replica down to 2.5s an answer: both latency
// alerts fire in Prometheus; the critical one pages, and Alertmanager
// mutes its warning twin, as deploy/alertmanager says.
func testLatency(t *testing.T, s *stack) {
	if err := s.slow.SetDelay(2500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.slow.SetDelay(0) }()
	s.awaitTrigger(t, "HighResponseTime")
	m := s.awaitSlack(t, s.oncall, "HighResponseTime", trigger)
	checkMessage(t, "Slack trigger", slackText(m), m.Mentions, s.receiverURL+"/runbooks/highresponsetime", aliceSlack)
	testenv.Eventually(t, alertTimeout, func() error {
		v, err := s.prom.Query(t.Context(), `ALERTS{alertname="HighResponseTime",alertstate="firing",job="app",route="/api/items"}`)
		if err != nil {
			return err
		}
		var sev []string
		for _, smp := range v {
			sev = append(sev, string(smp.Metric["severity"]))
		}
		slices.Sort(sev)
		if !slices.Equal(sev, []string{"critical", "warning"}) {
			return fmt.Errorf("HighResponseTime fires with severities %v, want critical and warning", sev)
		}
		return nil
	})
	testenv.Eventually(t, alertTimeout, func() error {
		alerts, err := s.am.Alerts(t.Context())
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == "HighResponseTime" && a.Labels["severity"] == "warning" && a.Status != nil && len(a.Status.InhibitedBy) > 0 {
				return nil
			}
		}
		return errors.New("Alertmanager does not hold the HighResponseTime warning as inhibited yet")
	})
}

// testHealth stops a replica's health endpoint: the health alert pages.
func testHealth(t *testing.T, s *stack) {
	if ev := s.pdTrigger("HealthCheckFailing"); ev != nil {
		t.Fatalf("HealthCheckFailing paged before the health endpoint stopped: %+v", ev.Payload)
	}
	s.slow.SetHealthy(false)
	defer s.slow.SetHealthy(true)
	ev := s.awaitTrigger(t, "HealthCheckFailing")
	if !strings.Contains(ev.Payload.Summary, "HealthCheckFailing") {
		t.Errorf("PagerDuty summary %q", ev.Payload.Summary)
	}
	m := s.awaitSlack(t, s.oncall, "HealthCheckFailing", func(text string) bool { return strings.Contains(text, "Health check app is failing") })
	checkMessage(t, "Slack trigger", slackText(m), m.Mentions, s.receiverURL+"/runbooks/healthcheckfailing", aliceSlack)
}

// queueDepth is one more job than HighQueueSize's threshold.
const queueDepth = 10_001

// testQueue fills the test's Redis list past 10,000 jobs: the queue alert
// reaches the warning route's Slack channel.
func testQueue(t *testing.T, s *stack) {
	ctx := t.Context()
	jobs := make([]any, 1000)
	for i := range jobs {
		jobs[i] = fmt.Sprintf(`{"job":%d}`, i)
	}
	pipe := s.redis.Pipeline()
	for range queueDepth / len(jobs) {
		pipe.RPush(ctx, s.queue, jobs...)
	}
	pipe.RPush(ctx, s.queue, jobs[:queueDepth%len(jobs)]...)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.redis.Del(context.Background(), s.queue)
	if n := s.redis.LLen(ctx, s.queue).Val(); n != queueDepth {
		t.Fatalf("%s holds %d jobs, want %d", s.queue, n, queueDepth)
	}
	m := s.awaitSlack(t, s.warnings, "HighQueueSize", func(text string) bool { return strings.Contains(text, s.queue) })
	if !strings.Contains(slackText(m), "10k") || !strings.Contains(slackText(m), s.receiverURL+"/runbooks/highqueuesize") {
		t.Errorf("Slack warning lacks the depth or the runbook:\n%s", slackText(m))
	}
}

// testConnections opens connections to PostgreSQL until its client
// backends fill 80% of what ordinary clients may open, as the rules count
// it (max_connections minus superuser_reserved_connections), and holds them
// until the connection alert reaches the warning route. The server is
// shared, so it opens only what is missing and lets go at once.
func testConnections(t *testing.T, s *stack) {
	ctx := t.Context()
	// The connections name themselves, for whoever looks at
	// pg_stat_activity meanwhile.
	cfg, err := pgx.ParseConfig(s.pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = "klaxon-e2e"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var limit, used float64
	err = conn.QueryRow(ctx, `SELECT current_setting('max_connections')::float8 - current_setting('superuser_reserved_connections')::float8,
		(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::float8`).Scan(&limit, &used)
	if err != nil {
		t.Fatal(err)
	}
	// One more than needed, for the probe, which leaves its own out.
	missing := int(math.Ceil(0.8*limit-used)) + 1
	var held []*pgx.Conn
	defer func() {
		for _, c := range held {
			c.Close(context.Background())
		}
	}()
	for range missing {
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("opening connection %d of %d (limit %v, %v in use before): %v", len(held)+1, missing, limit, used, err)
		}
		held = append(held, c)
	}
	t.Logf("holding %d connections to PostgreSQL (%v of %v in use before)", len(held), used, limit)
	m := s.awaitSlack(t, s.warnings, "HighDatabaseConnections", trigger)
	if !strings.Contains(slackText(m), s.receiverURL+"/runbooks/highdatabaseconnections") {
		t.Errorf("Slack warning lacks the runbook:\n%s", slackText(m))
	}
}

// trigger matches the text of a chat message that announces a firing
// group, rather than escalating or acknowledging it.
func trigger(text string) bool {
	return strings.Contains(text, "FIRING") && !strings.Contains(text, "escalated to level") && !strings.Contains(text, "acknowledged by")
}

// pdTrigger returns the first PagerDuty trigger of the alert name, or nil.
func (s *stack) pdTrigger(alertname string) *pagerdutytest.Event {
	for _, e := range s.pd.Received() {
		if e.EventAction == "trigger" && e.Payload != nil && e.Payload.Class == alertname {
			return &e
		}
	}
	return nil
}

func (s *stack) awaitTrigger(t *testing.T, alertname string) *pagerdutytest.Event {
	t.Helper()
	var ev *pagerdutytest.Event
	testenv.Eventually(t, alertTimeout, func() error {
		if ev = s.pdTrigger(alertname); ev == nil {
			return fmt.Errorf("no PagerDuty trigger for %s yet (%d events)", alertname, len(s.pd.Received()))
		}
		return nil
	})
	return ev
}

// awaitSlack waits for a message to a Slack webhook about alertname for
// which match holds, and returns it.
func (s *stack) awaitSlack(t *testing.T, webhook, alertname string, match func(string) bool) slacktest.Request {
	t.Helper()
	var found slacktest.Request
	testenv.Eventually(t, alertTimeout, func() error {
		for _, r := range s.slack.Received() {
			if text := slackText(r); r.Webhook == webhook && strings.Contains(text, alertname) && match(text) {
				found = r
				return nil
			}
		}
		return fmt.Errorf("no such Slack message about %s yet (%d messages)", alertname, len(s.slack.Received()))
	})
	return found
}

func (s *stack) awaitDiscord(t *testing.T, alertname string, match func(string) bool) discordtest.Received {
	t.Helper()
	var found discordtest.Received
	testenv.Eventually(t, alertTimeout, func() error {
		for _, r := range s.discord.Received() {
			if text := discordText(r); strings.Contains(text, alertname) && match(text) {
				found = r
				return nil
			}
		}
		return fmt.Errorf("no such Discord message about %s yet (%d messages)", alertname, len(s.discord.Received()))
	})
	return found
}

// slackText is the text of a Slack message and its attachments.
func slackText(r slacktest.Request) string {
	parts := []string{r.Message.Text}
	for _, a := range r.Message.Attachments {
		parts = append(parts, a.Title, a.TitleLink, a.Text)
	}
	return strings.Join(parts, "\n")
}

// discordText is the text of a Discord message and its embeds.
func discordText(r discordtest.Received) string {
	parts := []string{r.Body.Content}
	for _, e := range r.Body.Embeds {
		parts = append(parts, e.Title, e.URL, e.Description)
		for _, f := range e.Fields {
			parts = append(parts, f.Name, f.Value)
		}
	}
	return strings.Join(parts, "\n")
}

// checkMessage checks that a chat message links the runbook and notifies
// the person paged.
func checkMessage(t *testing.T, what, text string, pings []string, runbook, ping string) {
	t.Helper()
	if !strings.Contains(text, runbook) {
		t.Errorf("%s lacks the runbook link %s:\n%s", what, runbook, text)
	}
	if !slices.Contains(pings, ping) {
		t.Errorf("%s notifies %v, want %s:\n%s", what, pings, ping, text)
	}
}

// incident returns the open incident key from the receiver's API, or nil.
func (s *stack) incident(t *testing.T, key string) *incident.Summary {
	t.Helper()
	var list struct {
		Incidents []incident.Summary `json:"incidents"`
	}
	if err := s.api(t.Context(), http.MethodGet, "/api/v1/incidents", nil, &list); err != nil {
		t.Fatal(err)
	}
	for _, in := range list.Incidents {
		if in.ID == key {
			return &in
		}
	}
	return nil
}

// awaitLevel waits until the incident has paged level, checking on the way
// that each level falls due at its delay from the incident's start and is
// paged no earlier and at most onTime later, and returns the incident.
func (s *stack) awaitLevel(t *testing.T, key string, level int) *incident.Summary {
	t.Helper()
	delays := []time.Duration{0, level2Delay, level3Delay}
	var in *incident.Summary
	testenv.Eventually(t, alertTimeout, func() error {
		in = s.incident(t, key)
		switch {
		case in == nil:
			return fmt.Errorf("incident %s is not open", key)
		case in.Level < level:
			if want := in.Started.Add(delays[in.Level]); !in.NextEscalation.Equal(want) {
				t.Fatalf("incident at level %d: next escalation %s, want %s (%s after its start)", in.Level, in.NextEscalation, want, delays[in.Level])
			}
			return fmt.Errorf("incident at level %d, want %d", in.Level, level)
		}
		return nil
	})
	due, seen := in.Started.Add(delays[level-1]), time.Now()
	t.Logf("level %d due at %s, seen paged %s later", level, due.Format(time.RFC3339), seen.Sub(due).Round(time.Millisecond))
	if seen.Before(due) || seen.After(due.Add(onTime)) {
		t.Errorf("level %d seen paged at %s, due at %s: not on time", level, seen, due)
	}
	return in
}

func (s *stack) ack(t *testing.T, key string) {
	t.Helper()
	var answer struct{ Status string }
	err := s.api(t.Context(), http.MethodPost, "/api/v1/incidents/"+key+"/ack", map[string]string{"by": acker}, &answer)
	if err != nil || answer.Status != "acknowledged" {
		t.Fatalf("acknowledging %s: %v %+v", key, err, answer)
	}
}

// api calls the receiver's API and decodes its JSON answer into out.
func (s *stack) api(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.receiverURL+path, body)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// awaitHeartbeats waits until at least n Watchdog notifications reached
// the receiver's heartbeat route, by its webhook counter as Prometheus
// scraped it, and returns their number.
func (s *stack) awaitHeartbeats(t *testing.T, n float64) float64 {
	t.Helper()
	var got float64
	testenv.Eventually(t, alertTimeout, func() error {
		v, err := s.prom.Query(t.Context(), `klaxon_receiver_webhook_requests_total{route="heartbeat",code="200"}`)
		if err != nil {
			return err
		}
		if len(v) == 1 {
			got = float64(v[0].Value)
		}
		if got < n {
			return fmt.Errorf("%v heartbeats so far, want %v", got, n)
		}
		return nil
	})
	return got
}

// waitUntil waits for the clock to pass at: only then can the test tell
// that something due at that time did not happen.
func waitUntil(t *testing.T, at time.Time) {
	t.Helper()
	select {
	case <-time.After(time.Until(at)):
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}
}

// checkNothingLeft fails the test if a process it started, or any process
// in their groups, outlives it. Registered before the processes start, it
// runs after their cleanups have killed them.
func (s *stack) checkNothingLeft(t *testing.T) {
	for _, p := range s.procs {
		pid := p.Cmd.Process.Pid
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (process group %d) is still there after the test: %v", p.Cmd.Path, pid, err)
		}
	}
}

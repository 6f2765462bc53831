package receiver

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/receivertest"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/api"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/discord"
	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/slack"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/runbooks"
)

// Times at which testdata/oncall.yml's on-call is known: alice holds
// primary in the week of 2026-03-09 and bob from 2026-03-16 09:00 London
// time; office is staffed on weekdays from 09:00 to 17:00 only.
var (
	aliceWeek = time.Date(2026, 3, 10, 8, 50, 0, 0, time.UTC) // a Tuesday, before office hours
	bobWeek   = time.Date(2026, 3, 16, 9, 30, 0, 0, time.UTC)
	saturday  = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
)

// Secrets of testdata/oncall.yml.
const (
	onCallBearer     = "s3cret-bearer-oncall"
	onCallRoutingKey = "0123456789abcdef0123456789abcdef"
)

// onCallRuntime builds testdata/oncall.yml with its Slack and Discord
// channels pointed at the given webhook URLs, its clock at now and its
// logs in logs.
func onCallRuntime(t *testing.T, slackURL, discordURL string, now time.Time, logs *bytes.Buffer) *receiverconfig.Runtime {
	t.Helper()
	cfg, err := receiverconfig.LoadFile("testdata/oncall.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range cfg.Channels {
		switch c := ch.Config.(type) {
		case *slack.Config:
			c.WebhookURL, c.WebhookURLFile = commoncfg.Secret(slackURL), ""
		case *discord.Config:
			c.WebhookURL, c.WebhookURLFile = commoncfg.Secret(discordURL), ""
		}
	}
	logger := promslog.NewNopLogger()
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rt, err := receiverconfig.Build(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	rt.Now = func() time.Time { return now }
	return rt
}

func readMessage(t *testing.T, file string) *alert.Message {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := alert.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestOnCallConfig(t *testing.T) {
	rt := onCallRuntime(t, "https://hooks.example.com/x", "https://discord.example.com/api/webhooks/1/x", aliceWeek, nil)
	var policies []string
	for _, r := range rt.Config.Routes {
		policies = append(policies, r.Name+"="+r.EscalationPolicy)
	}
	if diff := cmp.Diff([]string{"critical=default", "chat=chat", "office=office-hours", "warning="}, policies); diff != "" {
		t.Errorf("routes' escalation policies (-want +got):\n%s", diff)
	}
	type answer struct {
		User, Slack, Discord string
		OK                   bool
	}
	var got []answer
	for _, q := range []struct {
		schedule string
		at       time.Time
	}{{"primary", aliceWeek}, {"primary", bobWeek}, {"office", saturday}, {"nope", aliceWeek}} {
		user, ok := rt.Roster.OnCall(q.schedule, q.at)
		got = append(got, answer{User: user, OK: ok})
	}
	for _, user := range []string{"alice", "carol", "nope"} {
		ids, ok := rt.Roster.ChatIDs(user)
		got = append(got, answer{User: user, Slack: ids["slack"], Discord: ids["discord"], OK: ok})
	}
	want := []answer{
		{User: "alice", OK: true}, {User: "bob", OK: true}, {}, {},
		{User: "alice", Slack: "U01ALICE0", Discord: "100000000000000001", OK: true},
		{User: "carol", OK: true}, {User: "nope"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("roster answers (-want +got):\n%s", diff)
	}
}

func TestOnCallConfigBad(t *testing.T) {
	for _, tc := range []struct{ file, err string }{
		{"bad-oncall-unknown-user.yml", `:9: layer "layer-1" of schedule "primary" names user "erin", which is not defined (users: alice)` + "\n" +
			`testdata/bad-oncall-unknown-user.yml:11: override in schedule "primary" names user "frank", which is not defined (users: alice)`},
		{"bad-policy-unknown-target.yml", `:11: escalation policy "default", level 1: unknown schedule "primry"` + "\n" +
			`testdata/bad-policy-unknown-target.yml:15: escalation policy "default", level 2: unknown user "senior"`},
		{"bad-fallback-unknown.yml", `:8: fallback of schedule "primary" names user "carol", which is not defined (users: alice)` + "\n" +
			`testdata/bad-fallback-unknown.yml:14: escalation policy "default", fallback: unknown schedule "secondary"`},
		{"bad-route-unknown-policy.yml", `:3: route "critical" names escalation policy "defualt", which is not defined (escalation policies: default)`},
		{"bad-oncall-several.yml", `:4: user name "alice" is used twice` + "\n" +
			`testdata/bad-oncall-several.yml:9: layer "layer-1" of schedule "primary" names user "bob", which is not defined (users: alice)` + "\n" +
			`testdata/bad-oncall-several.yml:13: escalation policy "default", level 1: unknown user "carol"`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			_, err := receiverconfig.LoadFile(path)
			if err == nil {
				t.Fatal("loaded, want an error")
			}
			if diff := cmp.Diff(path+tc.err, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
	for _, tc := range []struct{ name, in, err string }{
		{"route policy without policies", "routes:\n  - name: r\n    escalation_policy: p\n",
			`x.yml:3: route "r" names escalation policy "p", which is not defined (escalation policies: none)`},
		{"route key", "routes:\n  - name: r\n    escalation: p\n",
			`x.yml:3: unknown key "escalation" (known keys: channels, escalation_policy, name)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := receiverconfig.Parse("x.yml", []byte(tc.in))
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			if diff := cmp.Diff(tc.err, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMentions sends trigger and resolve messages through the Prepare
// path to fake Slack and Discord webhooks and checks whom they notify.
func TestMentions(t *testing.T) {
	slackFake := slacktest.NewServer()
	defer slackFake.Close()
	discordFake := discordtest.NewServer()
	defer discordFake.Close()
	for i, tc := range []struct {
		name    string
		route   string
		at      time.Time
		payload string
		kind    notify.Kind
		// slack and discord are who must be notified; nil: the route
		// has no such channel.
		slack, discord []string
	}{
		{"primary on call", "critical", aliceWeek, "payload-firing.json", notify.KindTrigger,
			[]string{"<@U01ALICE0>"}, []string{"<@100000000000000001>"}},
		{"after the handoff", "critical", bobWeek, "payload-firing.json", notify.KindTrigger,
			[]string{"<@U02BOB000>"}, []string{"<@100000000000000002>"}},
		{"user, group and role targets", "chat", aliceWeek, "payload-firing.json", notify.KindTrigger,
			[]string{"<@U01ALICE0>", "<@U02BOB000>", "<!subteam^S0SRETEAM>"},
			[]string{"<@&200000000000000001>", "<@100000000000000001>", "<@100000000000000002>"}},
		{"resolve mentions nobody", "chat", aliceWeek, "payload-resolved.json", notify.KindResolve, []string{}, []string{}},
		{"route without a policy", "warning", aliceWeek, "payload-firing.json", notify.KindTrigger, []string{}, []string{}},
		{"nobody on call", "office", saturday, "payload-firing.json", notify.KindTrigger, []string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "30000000000000000" + string(rune('0'+i))
			var logs bytes.Buffer
			rt := onCallRuntime(t, slackFake.NewWebhook(), discordFake.AddWebhook(id, "token"), tc.at, &logs)
			m := receivertest.NewManager(t, nil, fixedConfig{rt}, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			before := len(slackFake.Received())
			for _, ch := range rt.Config.Route(tc.route).Channels {
				n := &notify.Notification{
					ID: 1, Channel: ch, Route: tc.route, Kind: tc.kind, Message: readMessage(t, tc.payload),
					IncidentKey: alert.IncidentKey(tc.route, "g"), CreatedAt: tc.at,
				}
				m.Prepare(n)
				if ch == "pagerduty" {
					if len(n.Mentions) != 0 {
						t.Errorf("PagerDuty got mentions %v; it escalates by itself", n.Mentions)
					}
					continue
				}
				if err := rt.Channels[ch].Notifier.Notify(t.Context(), n); err != nil {
					t.Fatalf("channel %s: %v", ch, err)
				}
			}
			if tc.slack != nil {
				got := slackFake.Received()
				if len(got) != before+1 {
					t.Fatalf("Slack received %d messages, want 1", len(got)-before)
				}
				if diff := cmp.Diff(tc.slack, append([]string{}, got[len(got)-1].Mentions...)); diff != "" {
					t.Errorf("Slack mentions (-want +got):\n%s", diff)
				}
			}
			if tc.discord != nil {
				var pings []string
				for _, r := range discordFake.Received() {
					if r.WebhookID == id {
						pings = append(pings, r.Pings()...)
					}
				}
				if diff := cmp.Diff(tc.discord, append([]string{}, pings...)); diff != "" {
					t.Errorf("Discord pings (-want +got):\n%s", diff)
				}
			}
			if uncovered := strings.Contains(logs.String(), "nobody on call to mention"); uncovered != (tc.name == "nobody on call") {
				t.Errorf("warning about nobody on call logged: %t; logs:\n%s", uncovered, logs.String())
			}
		})
	}
}

func TestOnCallAPI(t *testing.T) {
	var logs bytes.Buffer
	rt := onCallRuntime(t, "https://hooks.example.com/x", "https://discord.example.com/api/webhooks/1/x", aliceWeek, &logs)
	h := api.NewOnCallAPI(fixedConfig{rt}, slog.New(slog.NewTextHandler(&logs, nil)))
	get := func(target, token string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", target, ct)
		}
		return w.Code, w.Body.String()
	}
	for _, tc := range []struct {
		name, target, token string
		code                int
		err                 string
	}{
		{"no token", "/api/v1/oncall", "", http.StatusUnauthorized, "missing or wrong bearer token"},
		{"wrong token", "/api/v1/oncall", onCallBearer + "x", http.StatusUnauthorized, "missing or wrong bearer token"},
		{"bad time", "/api/v1/oncall?at=yesterday", onCallBearer, http.StatusBadRequest, `time "yesterday" must be RFC 3339, such as 2026-03-10T08:50:00Z`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.target, tc.token)
			var resp api.Response
			if err := json.Unmarshal([]byte(body), &resp); err != nil {
				t.Fatal(err)
			}
			if code != tc.code || resp.Error != tc.err {
				t.Errorf("%d %q, want %d %q", code, resp.Error, tc.code, tc.err)
			}
			assertNoOnCallSecrets(t, body)
		})
	}
	type answer struct {
		At        time.Time                       `json:"at"`
		Schedules []receiverconfig.ScheduleStatus `json:"schedules"`
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, london)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		target string
		want   answer
	}{
		{"/api/v1/oncall", answer{At: aliceWeek, Schedules: []receiverconfig.ScheduleStatus{
			{Schedule: "primary", TimeZone: "Europe/London",
				OnCall: &receiverconfig.OnCallUser{Name: "alice", ChatIDs: map[string]string{"slack": "U01ALICE0", "discord": "100000000000000001"}},
				NextHandoffs: []receiverconfig.Handoff{
					{At: at("2026-03-16 09:00"), From: "alice", To: "bob"},
					{At: at("2026-03-23 09:00"), From: "bob", To: "carol"},
					{At: at("2026-03-30 09:00"), From: "carol", To: "alice"},
				}},
			{Schedule: "office", TimeZone: "Europe/London", NextHandoffs: []receiverconfig.Handoff{
				{At: at("2026-03-10 09:00"), To: "carol"},
				{At: at("2026-03-10 17:00"), From: "carol"},
				{At: at("2026-03-11 09:00"), To: "carol"},
			}},
		}}},
		{"/api/v1/oncall?at=2026-03-14T10:00:00Z", answer{At: saturday, Schedules: []receiverconfig.ScheduleStatus{
			{Schedule: "primary", TimeZone: "Europe/London", OnCall: &receiverconfig.OnCallUser{Name: "alice", ChatIDs: map[string]string{"slack": "U01ALICE0", "discord": "100000000000000001"}},
				NextHandoffs: []receiverconfig.Handoff{
					{At: at("2026-03-16 09:00"), From: "alice", To: "bob"},
					{At: at("2026-03-23 09:00"), From: "bob", To: "carol"},
					{At: at("2026-03-30 09:00"), From: "carol", To: "alice"},
				}},
			{Schedule: "office", TimeZone: "Europe/London", NextHandoffs: []receiverconfig.Handoff{
				{At: at("2026-03-16 09:00"), To: "carol"},
				{At: at("2026-03-16 17:00"), From: "carol"},
				{At: at("2026-03-17 09:00"), To: "carol"},
			}},
		}}},
	} {
		t.Run(tc.target, func(t *testing.T) {
			code, body := get(tc.target, onCallBearer)
			if code != http.StatusOK {
				t.Fatalf("%d %s", code, body)
			}
			var got answer
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			assertNoOnCallSecrets(t, body)
		})
	}
	assertNoOnCallSecrets(t, logs.String())
}

func TestOnCallMetrics(t *testing.T) {
	for _, tc := range []struct {
		name string
		now  time.Time
		want string
	}{
		// primary hands off to bob on Monday 09:00 UTC (6 days 10 minutes
		// on); office is staffed 40 of the next 168 hours.
		{"tuesday morning", aliceWeek, `
# HELP klaxon_oncall_current_info Who is on call now, per schedule: 1 with the user's name; user is empty when nobody is.
# TYPE klaxon_oncall_current_info gauge
klaxon_oncall_current_info{schedule="office",user=""} 1
klaxon_oncall_current_info{schedule="primary",user="alice"} 1
# HELP klaxon_oncall_gap_seconds Seconds with nobody on call for the schedule in the next 7 days, counting from now.
# TYPE klaxon_oncall_gap_seconds gauge
klaxon_oncall_gap_seconds{schedule="office"} 460800
klaxon_oncall_gap_seconds{schedule="primary"} 0
# HELP klaxon_oncall_gaps Number of intervals with nobody on call for the schedule in the next 7 days, counting from now.
# TYPE klaxon_oncall_gaps gauge
klaxon_oncall_gaps{schedule="office"} 6
klaxon_oncall_gaps{schedule="primary"} 0
# HELP klaxon_oncall_next_handoff_seconds Seconds until who is on call for the schedule next changes; absent when it never does.
# TYPE klaxon_oncall_next_handoff_seconds gauge
klaxon_oncall_next_handoff_seconds{schedule="office"} 600
klaxon_oncall_next_handoff_seconds{schedule="primary"} 519000
`},
		// Wednesday noon: carol until 17:00.
		{"wednesday noon", time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC), `
# HELP klaxon_oncall_current_info Who is on call now, per schedule: 1 with the user's name; user is empty when nobody is.
# TYPE klaxon_oncall_current_info gauge
klaxon_oncall_current_info{schedule="office",user="carol"} 1
klaxon_oncall_current_info{schedule="primary",user="alice"} 1
# HELP klaxon_oncall_gap_seconds Seconds with nobody on call for the schedule in the next 7 days, counting from now.
# TYPE klaxon_oncall_gap_seconds gauge
klaxon_oncall_gap_seconds{schedule="office"} 460800
klaxon_oncall_gap_seconds{schedule="primary"} 0
# HELP klaxon_oncall_gaps Number of intervals with nobody on call for the schedule in the next 7 days, counting from now.
# TYPE klaxon_oncall_gaps gauge
klaxon_oncall_gaps{schedule="office"} 5
klaxon_oncall_gaps{schedule="primary"} 0
# HELP klaxon_oncall_next_handoff_seconds Seconds until who is on call for the schedule next changes; absent when it never does.
# TYPE klaxon_oncall_next_handoff_seconds gauge
klaxon_oncall_next_handoff_seconds{schedule="office"} 18000
klaxon_oncall_next_handoff_seconds{schedule="primary"} 421200
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := onCallRuntime(t, "https://hooks.example.com/x", "https://discord.example.com/api/webhooks/1/x", tc.now, nil)
			c := newOnCallCollector(fixedConfig{rt})
			if err := testutil.CollectAndCompare(c, strings.NewReader(tc.want)); err != nil {
				t.Error(err)
			}
			text, err := testutil.CollectAndFormat(c, expfmt.TypeTextPlain)
			if err != nil {
				t.Fatal(err)
			}
			assertNoOnCallSecrets(t, string(text))
		})
	}
	// Without schedules there is nothing to say.
	rt, err := receiverconfig.Load(filepath.Join("..", "receiverconfig", "testdata", "good.yml"), promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(newOnCallCollector(fixedConfig{rt})); n != 0 {
		t.Errorf("%d on-call metrics without schedules, want none", n)
	}
}

func assertNoOnCallSecrets(t *testing.T, text string) {
	t.Helper()
	for _, s := range []string{onCallBearer, onCallRoutingKey} {
		if strings.Contains(text, s) {
			t.Errorf("secret %q leaked:\n%s", s, text)
		}
	}
}

// TestServiceOnCall checks the wiring: the service serves the on-call API
// behind the bearer token and registers the on-call metrics.
func TestServiceOnCall(t *testing.T) {
	data, err := os.ReadFile("testdata/oncall.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "receiver.yml")
	conf := string(data) + "storage:\n  path: " + filepath.Join(dir, "receiver.db") + "\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	_, mux := serve(t, Options{ConfigFile: file, Runbooks: runbooks.FS, Registerer: reg, Logger: promslog.NewNopLogger()})
	var codes []int
	for _, token := range []string{"", onCallBearer} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/oncall", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		codes = append(codes, w.Code)
	}
	if diff := cmp.Diff([]int{http.StatusUnauthorized, http.StatusOK}, codes); diff != "" {
		t.Errorf("status without and with the token (-want +got):\n%s", diff)
	}
	if n, err := testutil.GatherAndCount(reg, "klaxon_oncall_current_info", "klaxon_oncall_gaps"); err != nil || n != 4 {
		t.Errorf("gathered %d on-call series (%v), want 4", n, err)
	}
}

// fixedConfig is a config in force that no reload replaces.
type fixedConfig struct{ rt *receiverconfig.Runtime }

func (f fixedConfig) Get() *receiverconfig.Runtime { return f.rt }

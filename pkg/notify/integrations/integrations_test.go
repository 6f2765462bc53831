package integrations_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
	"github.com/klaxonhq/klaxon/pkg/notify/opsgenie/opsgenietest"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/pkg/oncall"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// TestMain registers a fifth chat integration, known to nothing but this
// test, the way a new package would: one notify.Integration.
func TestMain(m *testing.M) {
	integrations.Register(fakeChat)
	os.Exit(m.Run())
}

var teamRE = regexp.MustCompile(`^T[0-9]+$`)

var fakeChat = notify.Integration{
	Name:      "fakechat",
	NewConfig: func() notify.ChannelConfig { return new(fakeConfig) },
	BuiltIn:   notify.BuiltIn{Env: "FAKECHAT_URL", YAML: "url_env: FAKECHAT_URL"},
	Chat: &notify.ChatIDs{
		UserKey: "fakechat_id", GroupKey: "fakechat_team",
		CheckUser:  func(string) error { return nil },
		CheckGroup: notify.MatchID(teamRE, "fakechat_team %q is not a team (T and digits)"),
		Mentions:   fakeMentions,
	},
}

func fakeMentions(users, groups []string) []string {
	var out []string
	for _, id := range append(users, groups...) {
		out = append(out, "@"+id)
	}
	return out
}

type fakeConfig struct {
	URLEnv string `yaml:"url_env"`
}

func (c *fakeConfig) NewNotifier(notify.Options) (notify.Notifier, error) { return fakeNotifier{}, nil }
func (c *fakeConfig) Limit() notify.Limit                                 { return notify.Limit{Every: time.Second, Burst: 1} }
func (c *fakeConfig) ResolvePaths(string)                                 {}

type fakeNotifier struct{}

func (fakeNotifier) Notify(context.Context, *notify.Notification) error { return nil }
func (fakeNotifier) Mentions(users, groups []string) []string           { return fakeMentions(users, groups) }

// receiverConfig is the part of the receiver's config this test reads.
type receiverConfig struct {
	Channels           []integrations.Channel `yaml:"channels"`
	Users              []oncall.UserConfig    `yaml:"users"`
	EscalationPolicies escalation.Policies    `yaml:"escalation_policies"`
}

// UnmarshalYAML checks the channels as the receiver's config does.
func (c *receiverConfig) UnmarshalYAML(node *yaml.Node) error {
	type plain receiverConfig
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	for i := range c.Channels {
		if err := c.Channels[i].Check(yamlconf.ItemNode(node, "channels", i)); err != nil {
			return err
		}
	}
	return nil
}

// TestFakeChatIntegration: a registered chat integration gets its
// channel, its users' IDs and its group targets from the config, and its
// mentions in an escalation page, through the registry and notify.Chat
// alone.
func TestFakeChatIntegration(t *testing.T) {
	data := `
channels:
  - name: team-room
    fakechat: {url_env: FAKECHAT_URL}
users:
  - {name: alice, fakechat_id: alice01, slack_id: U01ALICE}
escalation_policies:
  - name: default
    levels:
      - targets: [{user: alice}, {fakechat_team: T42}, {slack_user_group: S0123ABCD}]
`
	var c receiverConfig
	if err := yamlconf.Decode("receiver.yml", []byte(data), &c); err != nil {
		t.Fatal(err)
	}
	ch := c.Channels[0]
	n, limit, err := ch.Notifier(notify.Options{})
	if err != nil || ch.Integration != "fakechat" || limit.Burst != 1 {
		t.Fatalf("channel %+v: notifier %v, limit %v, %v; want the fake chat's", ch, n, limit, err)
	}
	chat, ok := n.(notify.Chat)
	if !ok {
		t.Fatalf("the fake chat's notifier %T is not a notify.Chat", n)
	}
	dir, _, err := oncall.Compile(c.Users, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.EscalationPolicies.Get("default")
	page := escalation.Page{Level: 1, Loop: 1, Kind: escalation.PageEscalate, Targets: p.Levels[0].Targets}
	page.AddRecipients(nil, directory{dir})
	if diff := cmp.Diff([]string{"@alice01", "@T42"}, page.MentionsOn(ch.Integration, chat)); diff != "" {
		t.Errorf("the fake chat's mentions (-want +got):\n%s", diff)
	}
	if got := escalation.Timeline(time.Time{}, []escalation.Page{page}); !strings.Contains(got, "slack U01ALICE S0123ABCD; fakechat @alice01 @T42\n") {
		t.Errorf("timeline does not list each chat's mentions:\n%s", got)
	}
}

type directory struct{ *oncall.Directory }

func (d directory) ChatIDs(user string) (map[string]string, bool) {
	u, ok := d.User(user)
	if !ok {
		return nil, false
	}
	return u.ChatIDs, true
}

// TestErrors: what the config's users see of the integrations, the
// registered fake among them, in the texts they always had.
func TestErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"two integrations", "channels:\n  - name: ops\n    slack: {webhook_url: https://hooks.slack.example.com/x}\n    fakechat: {}\n",
			`receiver.yml:2: channel "ops" must have exactly one of pagerduty, opsgenie, slack, discord, webhook or fakechat (it has 2)`},
		{"no integration", "channels:\n  - name: ops\n    slack:\n",
			`receiver.yml:2: channel "ops" must have exactly one of pagerduty, opsgenie, slack, discord, webhook or fakechat (it has 0)`},
		{"unknown channel key", "channels:\n  - name: ops\n    teams: {}\n",
			`receiver.yml:3: unknown key "teams" (known keys: discord, fakechat, name, opsgenie, pagerduty, slack, webhook)`},
		{"unknown user key", "users:\n  - name: alice\n    teams_id: x\n",
			`receiver.yml:3: unknown key "teams_id" (known keys: discord_id, fakechat_id, name, slack_id, time_zone)`},
		{"bad slack id", "users:\n  - name: alice\n    slack_id: alice\n",
			`receiver.yml:2: user "alice": slack_id "alice" must be a Slack member ID (U or W, then capital letters and digits)`},
		{"bad team", "escalation_policies:\n  - name: p\n    levels:\n      - targets:\n          - fakechat_team: x\n",
			`receiver.yml:5: fakechat_team "x" is not a team (T and digits)`},
		{"no target", "escalation_policies:\n  - name: p\n    levels:\n      - targets:\n          - {}\n",
			`receiver.yml:5: a target needs exactly one of schedule, user, slack_user_group, discord_role or fakechat_team (it has 0)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := yamlconf.Decode("receiver.yml", []byte(tc.yaml), &receiverConfig{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestLogKeysOnce sends one large notification through a channel of each
// integration, built as the receiver builds them: every log line of the
// delivery names the channel and the integration, and no key twice.
func TestLogKeysOnce(t *testing.T) {
	pd := pagerdutytest.NewServer()
	t.Cleanup(pd.Close)
	og := opsgenietest.NewServer("og-key")
	t.Cleanup(og.Close)
	sl := slacktest.NewServer()
	t.Cleanup(sl.Close)
	dc := discordtest.NewServer()
	t.Cleanup(dc.Close)
	data := `
channels:
  - name: pager
    pagerduty: {routing_key: ` + strings.Repeat("r", 32) + `, url: "` + pd.URL() + `"}
  - name: genie
    opsgenie: {api_key: og-key, api_url: "` + og.URL() + `"}
  - name: chat
    slack: {webhook_url: "` + sl.NewWebhook() + `"}
  - name: room
    discord: {webhook_url: "` + dc.AddWebhook("1", "discord-token") + `"}
`
	var c receiverConfig
	if err := yamlconf.Decode("receiver.yml", []byte(data), &c); err != nil {
		t.Fatal(err)
	}
	for _, ch := range c.Channels {
		t.Run(ch.Integration, func(t *testing.T) {
			var logs recorder
			n, _, err := ch.Notifier(notify.Options{Logger: slog.New(&logs)})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Notify(t.Context(), large(ch.Name)); err != nil {
				t.Fatal(err)
			}
			if len(logs.lines) == 0 {
				t.Fatal("the delivery logged nothing")
			}
			if dg, ok := n.(notify.Digester); ok {
				before := len(logs.lines)
				var ns []*notify.Notification
				for i := range dg.MaxDigest() {
					ns = append(ns, large(ch.Name))
					ns[i].IncidentKey = fmt.Sprint("key-", i)
				}
				if _, err := dg.NotifyDigest(t.Context(), ns); err != nil {
					t.Fatal(err)
				}
				if len(logs.lines) == before {
					t.Fatal("the digest logged nothing")
				}
			}
			for _, line := range logs.lines {
				if line.keys["channel"] != 1 || line.keys["integration"] != 1 {
					t.Errorf("%q names the channel %d times and the integration %d times, want once", line.msg, line.keys["channel"], line.keys["integration"])
				}
				for k, n := range line.keys {
					if n > 1 {
						t.Errorf("%q has key %s %d times", line.msg, k, n)
					}
				}
			}
		})
	}
}

// large is a notification to channel too large for any upstream, which
// each integration shortens and logs.
func large(channel string) *notify.Notification {
	m := notifytest.FiringTwo()
	m.CommonAnnotations["summary"] = strings.Repeat("a long common summary ", 200)
	for i := range 60 {
		a := notifytest.NewAlert(alert.StatusFiring, map[string]string{"alertname": "HighErrorRate", "instance": fmt.Sprintf("api-%02d:8080", i)},
			map[string]string{"summary": strings.Repeat("a long summary ", 100), "description": strings.Repeat("a long description ", 500)})
		m.Alerts = append(m.Alerts, a)
	}
	return &notify.Notification{ID: 1, Channel: channel, Route: "critical", IncidentKey: "key", Kind: notify.KindTrigger, Message: m, CreatedAt: notifytest.Start}
}

// recorder is a slog.Handler that keeps the keys of every line, those of
// the logger's With included.
type recorder struct {
	lines []logLine
	with  []string
	root  *recorder
}

type logLine struct {
	msg  string
	keys map[string]int
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	line := logLine{msg: rec.Message, keys: map[string]int{}}
	for _, k := range r.with {
		line.keys[k]++
	}
	rec.Attrs(func(a slog.Attr) bool { line.keys[a.Key]++; return true })
	root := r
	if r.root != nil {
		root = r.root
	}
	root.lines = append(root.lines, line)
	return nil
}

func (r *recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := &recorder{with: slices.Clone(r.with), root: r.root}
	if c.root == nil {
		c.root = r
	}
	for _, a := range attrs {
		c.with = append(c.with, a.Key)
	}
	return c
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

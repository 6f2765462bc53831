package receiverconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/units"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/notify/discord"
	"github.com/klaxonhq/klaxon/pkg/notify/opsgenie"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty"
	"github.com/klaxonhq/klaxon/pkg/notify/slack"
)

func TestLoadFileGood(t *testing.T) {
	got, err := LoadFile("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	pdSeverity := pagerduty.DefaultSeverities()
	pdSeverity["page"] = "critical"
	want := &Config{
		Global: Global{
			ExternalURL:     "https://klaxon.example.com/receiver",
			RunbookBaseURL:  "https://wiki.example.com/runbooks/",
			BearerTokenFile: filepath.Join("testdata", "secrets", "webhook-token"),
			MaxBodySize:     units.MiB,
			DeadLetterAfter: 6 * time.Hour,
		},
		Storage: Storage{Path: "/var/lib/klaxon/receiver.db", TakeoverAfter: 20 * time.Second},
		Channels: []Channel{
			{Name: "pagerduty", Integration: "pagerduty", Config: &pagerduty.Config{
				RoutingKeyFile: filepath.Join("testdata", "secrets", "pagerduty-routing-key"),
				URL:            pagerduty.DefaultURL, Summary: pagerduty.DefaultSummary, Source: pagerduty.DefaultSource,
				Severity: pdSeverity, DefaultSeverity: pagerduty.DefaultSeverity,
				Client: pagerduty.DefaultClient, Timeout: pagerduty.DefaultTimeout,
			}},
			{Name: "opsgenie", Integration: "opsgenie", Config: &opsgenie.Config{
				APIKey: "opsgenie-inline-key", Region: "eu",
				Message: opsgenie.DefaultMessage, Priorities: opsgenie.DefaultPriorities(), DefaultPriority: opsgenie.DefaultPriority,
				Tags: []string{"klaxon"}, Responders: []opsgenie.Responder{{Type: "team", Name: "sre"}},
				Source: opsgenie.DefaultSource, Timeout: opsgenie.DefaultTimeout,
			}},
			{Name: "slack-oncall", Integration: "slack", Config: &slack.Config{
				WebhookURLFile: filepath.Join("testdata", "secrets", "slack-webhook-url"),
				Channel:        "#oncall", Username: slack.DefaultUsername, MaxAlerts: slack.DefaultMaxAlerts,
				Mentions: map[string][]slack.Mention{"critical": {"S0123ABCD", "here"}},
				Timeout:  slack.DefaultTimeout,
			}},
			{Name: "discord-ops", Integration: "discord", Config: &discord.Config{
				WebhookURL: "https://discord.example.com/api/webhooks/1/discord-inline-token",
				Username:   discord.DefaultUsername, MaxAlerts: discord.DefaultMaxAlerts,
				Mentions: map[string]discord.Mentions{"critical": {Roles: []string{"123456789012345678"}}},
				Timeout:  discord.DefaultTimeout,
			}},
		},
		Routes: []Route{
			{Name: "critical", Channels: []string{"pagerduty", "opsgenie", "slack-oncall", "discord-ops"}},
			{Name: "warning", Channels: []string{"slack-oncall"}},
			{Name: "heartbeat"},
		},
		Templates: []string{filepath.Join("testdata", "templates", "*.tmpl")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ channel, kind string }{
		{"pagerduty", "pagerduty"}, {"opsgenie", "opsgenie"}, {"slack-oncall", "slack"}, {"discord-ops", "discord"},
	} {
		if got := got.Channel(tc.channel).Integration; got != tc.kind {
			t.Errorf("channel %s: type %q, want %q", tc.channel, got, tc.kind)
		}
	}
}

// TestConfigDerived checks what the receiver derives from the good config:
// URLs with their trailing slash, the bearer token read from its file.
func TestConfigDerived(t *testing.T) {
	c, err := LoadFile("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	ext, err := c.ExternalURL()
	if err != nil {
		t.Fatal(err)
	}
	base, err := c.RunbookBase()
	if err != nil {
		t.Fatal(err)
	}
	token, err := c.BearerToken()
	if err != nil {
		t.Fatal(err)
	}
	got := []string{ext.String(), base.String(), token}
	want := []string{"https://klaxon.example.com/receiver/", "https://wiki.example.com/runbooks/", "webhook-file-token"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("external URL, runbook base, bearer token (-want +got):\n%s", diff)
	}
	c.Global.RunbookBaseURL = ""
	if base, err := c.RunbookBase(); err != nil || base.String() != "https://klaxon.example.com/receiver/runbooks/" {
		t.Errorf("default runbook base: %v, %v; want the receiver's own /runbooks/ pages", base, err)
	}
	if c.Route("nope") != nil || c.Channel("nope") != nil {
		t.Error("Route or Channel found a name the config does not have")
	}
}

// TestRelativePaths checks that *_file and template paths are resolved
// against the config file's directory, not the working directory.
func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "conf", "receiver.yml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	config := `global:
  bearer_token_file: token
channels:
  - {name: pd, pagerduty: {routing_key_file: keys/pd}}
  - {name: og, opsgenie: {api_key_file: ../og}}
  - {name: sl, slack: {webhook_url_file: keys/slack}}
  - {name: dc, discord: {webhook_url_file: /abs/discord}}
templates: [tmpl/*.tmpl]
`
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "conf")
	want := []string{
		filepath.Join(conf, "token"), filepath.Join(conf, "keys", "pd"), filepath.Join(dir, "og"),
		filepath.Join(conf, "keys", "slack"), "/abs/discord", filepath.Join(conf, "tmpl", "*.tmpl"),
	}
	got := []string{
		c.Global.BearerTokenFile, c.Channels[0].Config.(*pagerduty.Config).RoutingKeyFile, c.Channels[1].Config.(*opsgenie.Config).APIKeyFile,
		c.Channels[2].Config.(*slack.Config).WebhookURLFile, c.Channels[3].Config.(*discord.Config).WebhookURLFile, c.Templates[0],
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolved paths (-want +got):\n%s", diff)
	}
}

// TestShippedConfigs loads and builds the built-in config, the example in
// deploy/ and an empty file, which all take the defaults.
func TestShippedConfigs(t *testing.T) {
	example := filepath.Join(testenv.RepoRoot(t), "deploy", "receiver", "klaxon-receiver.yml")
	for _, path := range []string{"", example, "testdata/empty.yml", "testdata/good.yml"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			rt, err := Load(path, promslog.NewNopLogger())
			if err != nil {
				t.Fatal(err)
			}
			if len(rt.Channels) != len(rt.Config.Channels) {
				t.Errorf("%d notifiers built for %d channels", len(rt.Channels), len(rt.Config.Channels))
			}
		})
	}
	def, err := Parse("built-in config", DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Global:  Global{ExternalURL: DefaultExternalURL, MaxBodySize: DefaultMaxBodySize, DeadLetterAfter: DefaultDeadLetterAfter},
		Storage: Storage{Path: DefaultStoragePath, TakeoverAfter: DefaultTakeoverAfter},
		Routes: []Route{{Name: "critical", EscalationPolicy: "default"}, {Name: "warning", EscalationPolicy: "default"},
			{Name: "heartbeat"}},
	}
	// The built-in policy records incidents and names one user without
	// Slack or Discord IDs, so that its level 1 mentions nobody.
	if len(def.Users) != 1 || def.Users[0].Name != "on-call" || len(def.Users[0].ChatIDs) != 0 {
		t.Errorf("built-in users = %+v, want one, on-call, without IDs", def.Users)
	}
	if p, ok := def.EscalationPolicies.Get("default"); !ok || len(p.Levels) != 1 || p.Repeat != 0 {
		t.Errorf("built-in escalation policy default = %+v, want one level and no repeat", p)
	}
	def.Users, def.EscalationPolicies = nil, nil
	if diff := cmp.Diff(want, def); diff != "" {
		t.Errorf("built-in config (-want +got):\n%s", diff)
	}
	empty, err := LoadFile("testdata/empty.yml")
	if err != nil {
		t.Fatal(err)
	}
	want.Routes = nil
	if diff := cmp.Diff(want, empty); diff != "" {
		t.Errorf("empty config (-want +got):\n%s", diff)
	}
}

func TestLoadFileBad(t *testing.T) {
	for _, tc := range []struct{ file, err string }{
		{"bad-unknown-key.yml", `:3: unknown key "extrnal_url" (known keys: ack_secret, ack_secret_env, ack_secret_file, bearer_token, bearer_token_env, bearer_token_file, dead_letter_after, external_url, max_body_size, runbook_base_url)`},
		{"bad-channel-two-types.yml", `:2: channel "ops" must have exactly one of pagerduty, opsgenie, slack, discord or webhook (it has 2)`},
		{"bad-channel-no-type.yml", `:2: channel "ops" must have exactly one of pagerduty, opsgenie, slack, discord or webhook (it has 0)`},
		{"bad-channel-duplicate.yml", `:5: channel name "ops" is used twice`},
		{"bad-route-channel-twice.yml", `:6: route "critical" names channel "team" twice: it would send every message twice`},
		{"bad-channel-name.yml", `:2: channel name "on call" must be letters, digits, '_', '.' or '-'`},
		{"bad-route-duplicate.yml", `:4: route name "critical" is used twice`},
		{"bad-route-undefined-channel.yml", `:9: route "critical" names channel "opsgenie", which is not defined (channels: pagerduty, slack)`},
		{"bad-external-url.yml", `:2: global: external_url "localhost:9848" must be an absolute http or https URL`},
		{"bad-runbook-base-url.yml", `:2: global: runbook_base_url: runbook base URL "wiki/runbooks" must be an absolute http or https URL`},
		{"bad-bearer-token-both.yml", `:3: at most one of bearer_token, bearer_token_file and bearer_token_env may be set`},
		{"bad-max-body-size.yml", `:2: global: max_body_size must be positive`},
		{"bad-slack-no-webhook-url.yml", `:7: one of webhook_url, webhook_url_file and webhook_url_env is required`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			_, err := LoadFile(path)
			if err == nil {
				t.Fatal("loaded, want an error")
			}
			if diff := cmp.Diff(path+tc.err, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "s3cret-bearer") {
				t.Errorf("the error quotes the bearer token: %v", err)
			}
		})
	}
}

// TestParseInline covers checks that need no file of their own.
func TestParseInline(t *testing.T) {
	for _, tc := range []struct{ name, in, err string }{
		{"dead letter after", "global:\n  dead_letter_after: 0s\n", "x.yml:2: global: dead_letter_after must be positive"},
		{"route name", "routes:\n  - name: a/b\n", `x.yml:2: route name "a/b" must be letters, digits, '_', '.' or '-'`},
		{"bearer token env unset", "global:\n  bearer_token_env: KLAXON_TEST_UNSET\n",
			"x.yml:2: bearer_token_env: environment variable KLAXON_TEST_UNSET is not set"},
		{"bearer token unexpanded", "global:\n  bearer_token: ${WEBHOOK_TOKEN}\n",
			`x.yml:2: bearer_token is "${WEBHOOK_TOKEN}", which is not expanded: to read the environment variable, write bearer_token_env: WEBHOOK_TOKEN instead`},
		{"bearer token twice", "global:\n  bearer_token_file: t\n  bearer_token_env: WEBHOOK_TOKEN\n",
			"x.yml:3: at most one of bearer_token, bearer_token_file and bearer_token_env may be set"},
		{"ack secret env unset", "global:\n  ack_secret_env: KLAXON_TEST_UNSET\n",
			"x.yml:2: ack_secret_env: environment variable KLAXON_TEST_UNSET is not set"},
		{"ack secret env short", "global:\n  ack_secret_env: KLAXON_TEST_SHORT\n",
			"x.yml:2: ack_secret_env: environment variable KLAXON_TEST_SHORT must hold at least 32 bytes, it has 12"},
		{"unknown top-level key", "route: []\n", "x.yml:1: unknown key \"route\" (known keys: channels, escalation_policies, global, routes, schedules, storage, templates, users)"},
		{"discord channel error", "channels:\n  - name: d\n    discord:\n      webhook_url_file: f\n      max_alerts: 11\n",
			"x.yml:5: max_alerts must be from 1 to 10 (Discord's limit of embeds in a message), not 11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KLAXON_TEST_SHORT", "short-s3cret")
			_, err := Parse("x.yml", []byte(tc.in))
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			if diff := cmp.Diff(tc.err, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBearerTokenFile checks that the token file is read at every call.
func TestBearerTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	c := &Config{Global: Global{BearerTokenFile: file}}
	if _, err := c.BearerToken(); err == nil {
		t.Error("no error for a missing bearer_token_file")
	}
	for _, token := range []string{"first", "second"} {
		if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := c.BearerToken(); err != nil || got != token {
			t.Errorf("BearerToken() = %q, %v; want %q", got, err, token)
		}
	}
}

// TestBuiltIn: with no config file, each secret variable that is set adds
// its channel: critical pages them all, warning the chat ones.
func TestBuiltIn(t *testing.T) {
	values := map[string]string{
		"PAGERDUTY_INTEGRATION_KEY": "0123456789abcdef0123456789abcdef",
		"OPSGENIE_API_KEY":          "opsgenie-s3cret",
		"SLACK_WEBHOOK_URL":         "https://hooks.slack.com/services/T0/B0/slack-s3cret",
		"DISCORD_WEBHOOK_URL":       "https://discord.com/api/webhooks/1/discord-s3cret",
	}
	routes := func(c *Config) map[string][]string {
		out := map[string][]string{}
		for _, r := range c.Routes {
			out[r.Name] = r.Channels
		}
		return out
	}
	for _, tc := range []struct {
		name string
		set  []string
		want map[string][]string
	}{
		{"none", nil, map[string][]string{"critical": nil, "warning": nil, "heartbeat": nil}},
		{"pagerduty", []string{"PAGERDUTY_INTEGRATION_KEY"}, map[string][]string{"critical": {"pagerduty"}, "warning": nil, "heartbeat": nil}},
		{"slack", []string{"SLACK_WEBHOOK_URL"}, map[string][]string{"critical": {"slack"}, "warning": {"slack"}, "heartbeat": nil}},
		{"all", []string{"PAGERDUTY_INTEGRATION_KEY", "OPSGENIE_API_KEY", "SLACK_WEBHOOK_URL", "DISCORD_WEBHOOK_URL"}, map[string][]string{
			"critical": {"pagerduty", "opsgenie", "slack", "discord"}, "warning": {"slack", "discord"}, "heartbeat": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, b := range BuiltInChannels {
				t.Setenv(b.Env, "")
			}
			for _, env := range tc.set {
				t.Setenv(env, values[env])
			}
			c, err := BuiltIn()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, routes(c)); diff != "" {
				t.Errorf("routes' channels (-want +got):\n%s", diff)
			}
			if ch := c.Channel("pagerduty"); ch != nil && string(ch.Config.(*pagerduty.Config).RoutingKey) != values["PAGERDUTY_INTEGRATION_KEY"] {
				t.Errorf("the pagerduty channel's key is not PAGERDUTY_INTEGRATION_KEY's")
			}
			if ch := c.Channel("slack"); ch != nil && string(ch.Config.(*slack.Config).WebhookURL) != values["SLACK_WEBHOOK_URL"] {
				t.Errorf("the slack channel's URL is not SLACK_WEBHOOK_URL's")
			}
			if _, err := Build(c, promslog.NewNopLogger()); err != nil {
				t.Errorf("building the built-in config: %v", err)
			}
		})
	}
}

func TestBuiltInBadVariable(t *testing.T) {
	for _, b := range BuiltInChannels {
		t.Setenv(b.Env, "")
	}
	t.Setenv("SLACK_WEBHOOK_URL", "hooks.slack.com/services/T0/B0/slack-s3cret")
	_, err := BuiltIn()
	want := "built-in config: SLACK_WEBHOOK_URL: webhook_url: must be an http or https URL"
	if err == nil || err.Error() != want {
		t.Errorf("BuiltIn() = %v, want %s", err, want)
	}
}

// TestSecretsFromEnvironment: the receiver's own secrets read the
// variables that bearer_token_env and ack_secret_env name.
func TestSecretsFromEnvironment(t *testing.T) {
	t.Setenv("KLAXON_TEST_TOKEN", "webhook-s3cret\n")
	t.Setenv("KLAXON_TEST_ACK", strings.Repeat("k", 40))
	c, err := Parse("x.yml", []byte("global:\n  bearer_token_env: KLAXON_TEST_TOKEN\n  ack_secret_env: KLAXON_TEST_ACK\n"))
	if err != nil {
		t.Fatal(err)
	}
	if token, err := c.BearerToken(); err != nil || token != "webhook-s3cret" {
		t.Errorf("BearerToken() = %q, %v; want the variable's value, trimmed", token, err)
	}
	if key, err := c.AckKey(); err != nil || string(key) != strings.Repeat("k", 40) {
		t.Errorf("AckKey() = %q, %v; want the variable's value", key, err)
	}
}

// TestBuiltInAckSecret: KLAXON_ACK_SECRET signs the built-in config's
// acknowledgement links, and a short one is refused without quoting it.
func TestBuiltInAckSecret(t *testing.T) {
	for _, b := range BuiltInChannels {
		t.Setenv(b.Env, "")
	}
	t.Setenv(AckSecretEnv, "")
	c, err := BuiltIn()
	if err != nil {
		t.Fatal(err)
	}
	if c.Global.Secret != "" || c.Global.SecretEnv != "" {
		t.Errorf("with %s unset the built-in config has a key (env %q)", AckSecretEnv, c.Global.SecretEnv)
	}

	key := strings.Repeat("k", 40)
	t.Setenv(AckSecretEnv, key)
	if c, err = BuiltIn(); err != nil {
		t.Fatal(err)
	}
	if string(c.Global.Secret) != key {
		t.Errorf("with %s set the built-in key is %d bytes, want the variable's %d", AckSecretEnv, len(c.Global.Secret), len(key))
	}

	t.Setenv(AckSecretEnv, "short-s3cret")
	_, err = BuiltIn()
	want := "built-in config: ack_secret_env: environment variable KLAXON_ACK_SECRET must hold at least 32 bytes, it has 12"
	if err == nil || err.Error() != want {
		t.Errorf("BuiltIn() with a short key = %v, want %s", err, want)
	}
}

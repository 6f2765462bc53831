package slack

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

func decodeConfig(t *testing.T, in string) *Config {
	t.Helper()
	c := &Config{}
	if err := yamlconf.Decode("slack.yml", []byte(in), c); err != nil {
		t.Fatalf("decoding:\n%s\nerror: %v", in, err)
	}
	return c
}

func TestConfigDefaults(t *testing.T) {
	got := decodeConfig(t, "webhook_url: https://hooks.slack.com/services/T1/B1/x\n")
	want := &Config{
		WebhookURL: "https://hooks.slack.com/services/T1/B1/x",
		Username:   "Klaxon",
		MaxAlerts:  10,
		Timeout:    10 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestConfigGood(t *testing.T) {
	got := decodeConfig(t, `
webhook_url_file: secrets/slack-url
channel: "#ops"
username: Pager
icon_emoji: ":rotating_light:"
title: '{{ .CommonLabels.alertname }}'
text: '{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}'
max_alerts: 3
mentions:
  critical: [U012AB3CD, W0456DEFG, S0789GHIJ, here]
  warning: [channel]
timeout: 3s
`)
	got.ResolvePaths("/etc/klaxon/receiver.yml")
	want := &Config{
		WebhookURLFile: filepath.Join("/etc/klaxon", "secrets/slack-url"),
		Channel:        "#ops",
		Username:       "Pager",
		IconEmoji:      ":rotating_light:",
		Title:          "{{ .CommonLabels.alertname }}",
		Text:           "{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}",
		MaxAlerts:      3,
		Mentions: map[string][]Mention{
			"critical": {"U012AB3CD", "W0456DEFG", "S0789GHIJ", "here"},
			"warning":  {"channel"},
		},
		Timeout: 3 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	abs := decodeConfig(t, "webhook_url_file: /run/secrets/slack\n")
	abs.ResolvePaths("/etc/klaxon/receiver.yml")
	if abs.WebhookURLFile != "/run/secrets/slack" {
		t.Errorf("absolute webhook_url_file became %q", abs.WebhookURLFile)
	}
}

func TestConfigBad(t *testing.T) {
	const hook = "webhook_url: https://hooks.slack.com/services/T1/B1/x\n"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no webhook", "channel: '#ops'\n",
			"slack.yml:1: one of webhook_url, webhook_url_file and webhook_url_env is required"},
		{"env unset", "channel: '#ops'\nwebhook_url_env: KLAXON_TEST_UNSET\n",
			"slack.yml:2: webhook_url_env: environment variable KLAXON_TEST_UNSET is not set"},
		{"unexpanded", "webhook_url: https://hooks.slack.com/services/${SLACK_TOKEN}\n",
			"slack.yml:1: webhook_url holds ${...}, which is not expanded: put the whole value in an environment variable and name it with webhook_url_env"},
		{"webhook and file", hook + "webhook_url_file: f\n",
			"slack.yml:2: at most one of webhook_url, webhook_url_file and webhook_url_env may be set"},
		{"webhook not http", "channel: '#ops'\nwebhook_url: ftp://hooks.slack.com/services/T1/B1/SECRETTOKEN\n",
			"slack.yml:2: webhook_url: must be an http or https URL"},
		{"webhook without host", "webhook_url: https:///services/T1/B1/SECRETTOKEN\n",
			"slack.yml:1: webhook_url: has no host"},
		{"webhook unparsable", "webhook_url: 'https://hooks.slack.com/%zzSECRETTOKEN'\n",
			"slack.yml:1: webhook_url: not a valid URL"},
		{"channel with space", hook + "channel: ops room\n",
			`slack.yml:2: channel must be #name, @user or a channel ID, not "ops room"`},
		{"icon without colons", hook + "icon_emoji: siren\n",
			`slack.yml:2: icon_emoji must be an emoji code such as :rotating_light:, not "siren"`},
		{"max_alerts zero", hook + "max_alerts: 0\n",
			"slack.yml:2: max_alerts must be 1 or more, not 0"},
		{"timeout zero", hook + "timeout: 0s\n",
			"slack.yml:2: timeout must be more than 0, not 0s"},
		{"timeout not a duration", hook + "timeout: fast\n",
			`slack.yml:2: timeout: "fast" is not a duration (use ms, s, m, h, d, w, y e.g. 90s, 5m)`},
		{"mention with @", hook + "mentions:\n  critical: ['@alice']\n",
			`slack.yml:3: mentions: "@alice" is not a Slack mention: want a user ID (U… or W…), a user group ID (S…), here or channel`},
		{"mention lower-case id", hook + "mentions:\n  critical:\n    - U012AB3CD\n    - u012ab3cd\n",
			`slack.yml:5: mentions: "u012ab3cd" is not a Slack mention: want a user ID (U… or W…), a user group ID (S…), here or channel`},
		{"mention as sequence", hook + "mentions:\n  warning: ['<!channel>']\n",
			`slack.yml:3: mentions: "<!channel>" is not a Slack mention: want a user ID (U… or W…), a user group ID (S…), here or channel`},
		{"mention everyone", hook + "mentions:\n  warning: [everyone]\n",
			`slack.yml:3: mentions: "everyone" is not a Slack mention: want a user ID (U… or W…), a user group ID (S…), here or channel`},
		{"severity upper-case", hook + "mentions:\n  Critical: [here]\n",
			`slack.yml:3: mentions: severity "Critical" must be lower-case, as severity labels are compared lower-cased`},
		{"unknown key", hook + "webhook: x\n",
			`slack.yml:2: unknown key "webhook" (known keys: channel, icon_emoji, max_alerts, mentions, text, timeout, title, username, webhook_url, webhook_url_env, webhook_url_file)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := yamlconf.Decode("slack.yml", []byte(tc.in), &Config{})
			if err == nil {
				t.Fatalf("no error for\n%s", tc.in)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "SECRETTOKEN") {
				t.Errorf("error %q quotes the webhook URL", err)
			}
		})
	}
}

func TestConfigHidesWebhookURL(t *testing.T) {
	c := decodeConfig(t, "webhook_url: https://hooks.slack.com/services/T1/B1/SECRETTOKEN\n")
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "SECRETTOKEN") || !strings.Contains(string(out), "webhook_url: <secret>") {
		t.Errorf("marshalled config shows the webhook URL:\n%s", out)
	}
}

func TestParseMention(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"U012AB3CD", "<@U012AB3CD>"},
		{"W0456DEFG", "<@W0456DEFG>"},
		{"S0789GHIJ", "<!subteam^S0789GHIJ>"},
		{"here", "<!here>"},
		{"channel", "<!channel>"},
	} {
		m, err := ParseMention(tc.in)
		if err != nil {
			t.Errorf("ParseMention(%q): %v", tc.in, err)
			continue
		}
		if got := m.Sequence(); got != tc.want {
			t.Errorf("ParseMention(%q).Sequence() = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "@here", "<@U012AB3CD>", "C012AB3CD", "U0", "U012AB3CD|x", "everyone", "S012 3"} {
		if _, err := ParseMention(bad); err == nil {
			t.Errorf("ParseMention(%q) accepted it", bad)
		}
	}
}

package discord_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/klaxonhq/klaxon/pkg/notify/discord"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// channel is how a Discord channel sits in the receiver's config.
type channel struct {
	Discord discord.Config `yaml:"discord"`
}

func decodeConfig(t *testing.T, yml string) (*discord.Config, error) {
	t.Helper()
	var c channel
	err := yamlconf.Decode("receiver.yml", []byte(yml), &c)
	return &c.Discord, err
}

func TestConfigDefaults(t *testing.T) {
	c, err := decodeConfig(t, `
discord:
  webhook_url: https://discord.com/api/webhooks/1/secret
`)
	if err != nil {
		t.Fatal(err)
	}
	want := &discord.Config{
		WebhookURL: "https://discord.com/api/webhooks/1/secret",
		Username:   "Klaxon", MaxAlerts: 10, Timeout: 10 * time.Second,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestConfigFull(t *testing.T) {
	c, err := decodeConfig(t, `
discord:
  webhook_url_file: secrets/discord-url
  username: Pager
  avatar_url: https://example.com/klaxon.png
  title: '{{ .CommonLabels.alertname }}'
  description: '{{ .CommonAnnotations.summary }}'
  max_alerts: 5
  timeout: 3s
  mentions:
    Critical: {roles: ["111111111111111111"], users: [222222222222222222]}
    warning: {users: ["333333333333333333"]}
`)
	if err != nil {
		t.Fatal(err)
	}
	c.ResolvePaths("/etc/klaxon/receiver.yml")
	want := &discord.Config{
		WebhookURLFile: filepath.FromSlash("/etc/klaxon/secrets/discord-url"),
		Username:       "Pager", AvatarURL: "https://example.com/klaxon.png",
		Title: "{{ .CommonLabels.alertname }}", Description: "{{ .CommonAnnotations.summary }}",
		MaxAlerts: 5, Timeout: 3 * time.Second,
		Mentions: map[string]discord.Mentions{
			"critical": {Roles: []string{"111111111111111111"}, Users: []string{"222222222222222222"}},
			"warning":  {Users: []string{"333333333333333333"}},
		},
	}
	if diff := cmp.Diff(want, c, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	c.WebhookURLFile = "/abs/url"
	c.ResolvePaths("/etc/klaxon/receiver.yml")
	if c.WebhookURLFile != "/abs/url" {
		t.Errorf("an absolute path was changed to %q", c.WebhookURLFile)
	}
}

func TestConfigErrors(t *testing.T) {
	const hook = "  webhook_url: https://discord.com/api/webhooks/1/secret\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"no webhook", `
discord:
  username: Pager
`, `receiver.yml:3: one of webhook_url, webhook_url_file and webhook_url_env is required`},
		{"env unset", `
discord:
  username: Pager
  webhook_url_env: KLAXON_TEST_UNSET
`, `receiver.yml:4: webhook_url_env: environment variable KLAXON_TEST_UNSET is not set`},
		{"unexpanded", `
discord:
  webhook_url: ${DISCORD_WEBHOOK_URL}
`, `receiver.yml:3: webhook_url is "${DISCORD_WEBHOOK_URL}", which is not expanded: to read the environment variable, write webhook_url_env: DISCORD_WEBHOOK_URL instead`},
		{"both", `
discord:
  webhook_url: https://discord.com/api/webhooks/1/secret
  webhook_url_file: url
`, `receiver.yml:4: at most one of webhook_url, webhook_url_file and webhook_url_env may be set`},
		{"bad url", `
discord:
  webhook_url: "discord.com/api/webhooks/1/t0ken"
`, `receiver.yml:3: webhook_url must be an absolute http or https URL`},
		{"unknown key", `
discord:
` + hook + `  channel: alerts
`, `receiver.yml:4: unknown key "channel" (known keys: avatar_url, description, max_alerts, mentions, timeout, title, username, webhook_url, webhook_url_env, webhook_url_file)`},
		{"username discord", "\ndiscord:\n" + hook + "  username: Discord Alerts\n",
			`receiver.yml:4: username "Discord Alerts" must not contain "clyde" or "discord" (Discord refuses it)`},
		{"username clyde", "\ndiscord:\n" + hook + "  username: ClydeBot\n",
			`receiver.yml:4: username "ClydeBot" must not contain "clyde" or "discord" (Discord refuses it)`},
		{"username empty", "\ndiscord:\n" + hook + "  username: ' '\n",
			`receiver.yml:4: username must be 1 to 80 characters, not 0`},
		{"username long", "\ndiscord:\n" + hook + "  username: " + strings.Repeat("a", 81) + "\n",
			`receiver.yml:4: username must be 1 to 80 characters, not 81`},
		{"avatar", "\ndiscord:\n" + hook + "  avatar_url: klaxon.png\n",
			`receiver.yml:4: avatar_url must be an absolute http or https URL, not "klaxon.png"`},
		{"max_alerts zero", "\ndiscord:\n" + hook + "  max_alerts: 0\n",
			`receiver.yml:4: max_alerts must be from 1 to 10 (Discord's limit of embeds in a message), not 0`},
		{"max_alerts 11", "\ndiscord:\n" + hook + "  max_alerts: 11\n",
			`receiver.yml:4: max_alerts must be from 1 to 10 (Discord's limit of embeds in a message), not 11`},
		{"timeout", "\ndiscord:\n" + hook + "  timeout: 0s\n",
			`receiver.yml:4: timeout must be positive, not 0s`},
		{"role id", "\ndiscord:\n" + hook + `  mentions:
    critical:
      roles: ["111", "ops"]
`, `receiver.yml:6: mentions.critical.roles: "ops" is not a Discord ID (a snowflake: digits only)`},
		{"user id", "\ndiscord:\n" + hook + `  mentions:
    warning:
      users:
        - "<@222>"
`, `receiver.yml:7: mentions.warning.users: "<@222>" is not a Discord ID (a snowflake: digits only)`},
		{"too big id", "\ndiscord:\n" + hook + `  mentions:
    warning: {users: ["99999999999999999999999"]}
`, `receiver.yml:5: mentions.warning.users: "99999999999999999999999" is not a Discord ID (a snowflake: digits only)`},
		{"empty severity", "\ndiscord:\n" + hook + `  mentions:
    "": {users: ["1"]}
`, `receiver.yml:5: mentions: a severity must not be empty`},
		{"severity twice", "\ndiscord:\n" + hook + `  mentions:
    critical: {users: ["1"]}
    CRITICAL: {users: ["2"]}
`, `receiver.yml:6: mentions: severity "critical" is listed twice`},
		{"mentions key", "\ndiscord:\n" + hook + `  mentions:
    critical: {groups: ["1"]}
`, `receiver.yml:5: unknown key "groups" (known keys: roles, users)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeConfig(t, tc.yaml)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

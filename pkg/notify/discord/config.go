package discord

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// Defaults of a Discord channel.
const (
	DefaultUsername  = "Klaxon"
	DefaultMaxAlerts = 10
	DefaultTimeout   = 10 * time.Second
)

// maxUsername is Discord's limit on a webhook name: 1 to 80 characters.
const maxUsername = 80

// Config is a Discord channel: an incoming webhook of one Discord channel.
type Config struct {
	// WebhookURL, WebhookURLFile and WebhookURLEnv are mutually
	// exclusive; one is required. The URL holds the webhook's token, so it is a secret. The
	// file is read, and trimmed, on every send so that a rotated webhook
	// is picked up without a reload.
	// WebhookURLEnv names an environment variable, read into WebhookURL
	// when the config is loaded.
	WebhookURL     commoncfg.Secret `yaml:"webhook_url"`
	WebhookURLFile string           `yaml:"webhook_url_file"`
	WebhookURLEnv  string           `yaml:"webhook_url_env"`
	// Username overrides the webhook's name in the channel.
	Username string `yaml:"username"`
	// AvatarURL overrides the webhook's avatar.
	AvatarURL string `yaml:"avatar_url"`
	// Title and Description are templates, rendered once per alert with the
	// data narrowed to that alert. Empty means the built-in rendering.
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
	// MaxAlerts is how many alerts get an embed; the rest are counted in
	// an "and N more" line.
	MaxAlerts int `yaml:"max_alerts"`
	// Mentions are pinged in a firing message, by the group's severity.
	Mentions map[string]Mentions `yaml:"mentions"`
	// Timeout bounds one request to Discord.
	Timeout time.Duration `yaml:"timeout"`
}

// Mentions are the Discord roles and users to ping, by snowflake ID.
type Mentions struct {
	Roles []string `yaml:"roles"`
	Users []string `yaml:"users"`
}

// Integration is Discord's entry in the registry of integrations.
var Integration = notify.Integration{
	Name:      "discord",
	NewConfig: func() notify.ChannelConfig { return new(Config) },
	BuiltIn:   notify.BuiltIn{Env: "DISCORD_WEBHOOK_URL", YAML: "webhook_url_env: DISCORD_WEBHOOK_URL"},
	Chat: &notify.ChatIDs{
		UserKey: "discord_id", GroupKey: "discord_role",
		CheckUser:  notify.MatchID(userIDRE, "discord_id %q must be a Discord user ID (17 to 20 digits)"),
		CheckGroup: notify.MatchID(roleIDRE, "discord_role %q is not a Discord role ID (15 to 20 digits)"),
		Mentions:   mentionTokens,
	},
}

// NewNotifier builds the channel's notifier.
func (c *Config) NewNotifier(opts notify.Options) (notify.Notifier, error) {
	return notify.Built(New(c, opts))
}

// Limit is DefaultLimit.
func (c *Config) Limit() notify.Limit { return DefaultLimit }

var (
	// userIDRE is a user's discord_id in the users list.
	userIDRE = regexp.MustCompile(`^[0-9]{17,20}$`)
	// roleIDRE is an escalation target's discord_role.
	roleIDRE = regexp.MustCompile(`^[0-9]{15,20}$`)
)

// mentionTokens are users' and roles' IDs as Notification.Mentions takes
// them: <@&role> and <@user>, roles first.
func mentionTokens(users, roles []string) []string {
	var out []string
	for _, id := range roles {
		out = append(out, "<@&"+id+">")
	}
	for _, id := range users {
		out = append(out, "<@"+id+">")
	}
	return out
}

// UnmarshalYAML sets the defaults and validates the channel.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	*c = Config{Username: DefaultUsername, MaxAlerts: DefaultMaxAlerts, Timeout: DefaultTimeout}
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	for _, check := range []func(*yaml.Node) error{c.checkWebhook, c.checkUsername, c.checkLimits, c.normaliseMentions} {
		if err := check(node); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) checkWebhook(node *yaml.Node) error {
	if err := notify.CheckSecret(node, "webhook_url", &c.WebhookURL, c.WebhookURLFile, c.WebhookURLEnv); err != nil {
		return err
	}
	if c.WebhookURL == "" {
		return nil
	}
	// The URL is a secret: the error must not quote it.
	if _, err := parseWebhookURL(string(c.WebhookURL)); err != nil {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "webhook_url"), "webhook_url %v", err)
	}
	return nil
}

func (c *Config) checkUsername(node *yaml.Node) error {
	n := utf8.RuneCountInString(strings.TrimSpace(c.Username))
	lower := strings.ToLower(c.Username)
	switch {
	case n == 0 || n > maxUsername:
		return yamlconf.Errorf(yamlconf.ValueNode(node, "username"), "username must be 1 to %d characters, not %d", maxUsername, n)
	case strings.Contains(lower, "clyde") || strings.Contains(lower, "discord"):
		return yamlconf.Errorf(yamlconf.ValueNode(node, "username"), "username %q must not contain \"clyde\" or \"discord\" (Discord refuses it)", c.Username)
	}
	if c.AvatarURL != "" && !isHTTPURL(c.AvatarURL) {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "avatar_url"), "avatar_url must be an absolute http or https URL, not %q", c.AvatarURL)
	}
	return nil
}

func (c *Config) checkLimits(node *yaml.Node) error {
	if c.MaxAlerts < 1 || c.MaxAlerts > maxEmbeds {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "max_alerts"), "max_alerts must be from 1 to %d (Discord's limit of embeds in a message), not %d", maxEmbeds, c.MaxAlerts)
	}
	if c.Timeout <= 0 {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "timeout"), "timeout must be positive, not %s", c.Timeout)
	}
	return nil
}

// normaliseMentions lower-cases the severities, as alert.Message.Severity
// does, and checks that every ID is a snowflake.
func (c *Config) normaliseMentions(node *yaml.Node) error {
	if len(c.Mentions) == 0 {
		return nil
	}
	mn := yamlconf.ValueNode(node, "mentions")
	out := make(map[string]Mentions, len(c.Mentions))
	for i := 0; i+1 < len(mn.Content); i += 2 {
		key, value := mn.Content[i], mn.Content[i+1]
		sev := strings.ToLower(strings.TrimSpace(key.Value))
		if sev == "" {
			return yamlconf.Errorf(key, "mentions: a severity must not be empty")
		}
		if _, dup := out[sev]; dup {
			return yamlconf.Errorf(key, "mentions: severity %q is listed twice", sev)
		}
		m := c.Mentions[key.Value]
		for _, list := range []struct {
			name string
			ids  []string
		}{{"roles", m.Roles}, {"users", m.Users}} {
			for j, id := range list.ids {
				if !isSnowflake(id) {
					return yamlconf.Errorf(yamlconf.ItemNode(value, list.name, j), "mentions.%s.%s: %q is not a Discord ID (a snowflake: digits only)", sev, list.name, id)
				}
			}
		}
		out[sev] = m
	}
	c.Mentions = out
	return nil
}

// ResolvePaths makes a relative webhook_url_file relative to the directory
// of the config file.
func (c *Config) ResolvePaths(configFile string) {
	c.WebhookURLFile = yamlconf.ResolvePath(configFile, c.WebhookURLFile)
}

// isSnowflake says whether id is a Discord ID: a decimal uint64.
func isSnowflake(id string) bool {
	if id == "" || strings.TrimLeft(id, "0123456789") != "" {
		return false
	}
	_, err := strconv.ParseUint(id, 10, 64)
	return err == nil
}

// parseWebhookURL checks a webhook URL. Its errors never quote the URL,
// which holds the webhook's token.
func parseWebhookURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("must be an absolute http or https URL")
	}
	return u, nil
}

func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

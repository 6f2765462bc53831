package slack

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// Defaults of a Slack channel's config.
const (
	DefaultUsername  = "Klaxon"
	DefaultMaxAlerts = 10
	DefaultTimeout   = 10 * time.Second
)

// Config is one Slack channel: an incoming webhook and how its messages
// look.
type Config struct {
	// WebhookURL, WebhookURLFile and WebhookURLEnv are mutually
	// exclusive; one is required. The URL carries the webhook's token, so it is a secret.
	// The file is read, and trimmed, on every send so that a rotated
	// webhook is picked up without a reload.
	// WebhookURLEnv names an environment variable, read into WebhookURL
	// when the config is loaded.
	WebhookURL     commoncfg.Secret `yaml:"webhook_url"`
	WebhookURLFile string           `yaml:"webhook_url_file"`
	WebhookURLEnv  string           `yaml:"webhook_url_env"`
	// Channel, Username and IconEmoji override the webhook's own; Slack
	// honours them only for legacy webhooks.
	Channel   string `yaml:"channel"`
	Username  string `yaml:"username"`
	IconEmoji string `yaml:"icon_emoji"`
	// Title and Text are templates in Alertmanager's template language
	// that replace the attachment's default title and alert list.
	Title string `yaml:"title"`
	Text  string `yaml:"text"`
	// MaxAlerts is how many alerts a message lists; the rest are counted
	// as "and N more".
	MaxAlerts int `yaml:"max_alerts"`
	// Mentions are notified by firing messages of a severity, keyed by
	// the lower-case severity label.
	Mentions map[string][]Mention `yaml:"mentions"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
}

// Integration is Slack's entry in the registry of integrations.
var Integration = notify.Integration{
	Name:      "slack",
	NewConfig: func() notify.ChannelConfig { return new(Config) },
	BuiltIn:   notify.BuiltIn{Env: "SLACK_WEBHOOK_URL", YAML: "webhook_url_env: SLACK_WEBHOOK_URL"},
	Chat: &notify.ChatIDs{
		UserKey: "slack_id", GroupKey: "slack_user_group",
		CheckUser:  notify.MatchID(memberIDRE, "slack_id %q must be a Slack member ID (U or W, then capital letters and digits)"),
		CheckGroup: notify.MatchID(groupIDRE, "slack_user_group %q is not a Slack user group ID (S followed by capitals and digits)"),
		Mentions:   mentionIDs,
	},
}

// NewNotifier builds the channel's notifier.
func (c *Config) NewNotifier(opts notify.Options) (notify.Notifier, error) {
	return notify.Built(New(c, opts))
}

// Limit is DefaultLimit.
func (c *Config) Limit() notify.Limit { return DefaultLimit }

// UnmarshalYAML sets the defaults and validates the config.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	*c = Config{Username: DefaultUsername, MaxAlerts: DefaultMaxAlerts, Timeout: DefaultTimeout}
	type plain Config
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	if err := notify.CheckSecret(node, "webhook_url", &c.WebhookURL, c.WebhookURLFile, c.WebhookURLEnv); err != nil {
		return err
	}
	switch {
	case c.WebhookURL != "" && checkWebhookURL(string(c.WebhookURL)) != nil:
		// The URL is a secret: the error must not repeat it.
		return yamlconf.Errorf(yamlconf.ValueNode(node, "webhook_url"), "webhook_url: %v", checkWebhookURL(string(c.WebhookURL)))
	case c.Channel != "" && !channelRE.MatchString(c.Channel):
		return yamlconf.Errorf(yamlconf.ValueNode(node, "channel"), "channel must be #name, @user or a channel ID, not %q", c.Channel)
	case c.IconEmoji != "" && !emojiRE.MatchString(c.IconEmoji):
		return yamlconf.Errorf(yamlconf.ValueNode(node, "icon_emoji"), "icon_emoji must be an emoji code such as :rotating_light:, not %q", c.IconEmoji)
	case c.MaxAlerts < 1:
		return yamlconf.Errorf(yamlconf.ValueNode(node, "max_alerts"), "max_alerts must be 1 or more, not %d", c.MaxAlerts)
	case c.Timeout <= 0:
		return yamlconf.Errorf(yamlconf.ValueNode(node, "timeout"), "timeout must be more than 0, not %s", c.Timeout)
	}
	return checkSeverities(yamlconf.ValueNode(node, "mentions"))
}

// ResolvePaths makes a relative webhook_url_file relative to the directory
// of configFile.
func (c *Config) ResolvePaths(configFile string) {
	c.WebhookURLFile = yamlconf.ResolvePath(configFile, c.WebhookURLFile)
}

var (
	// channelRE: "#name", "@user" or a conversation ID (C…, G…, D…).
	channelRE = regexp.MustCompile(`^(?:[#@][^\s<>&]+|[CGD][A-Z0-9]{2,})$`)
	emojiRE   = regexp.MustCompile(`^:[a-z0-9_+'-]+:$`)
)

// checkWebhookURL says what is wrong with a webhook URL without quoting it.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must be an http or https URL")
	case u.Host == "":
		return fmt.Errorf("has no host")
	}
	return nil
}

// checkSeverities rejects mention keys that no severity can match: the
// severity label is compared lower-cased.
func checkSeverities(mentions *yaml.Node) error {
	if mentions == nil || mentions.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(mentions.Content); i += 2 {
		key := mentions.Content[i]
		if key.Value == "" || key.Value != strings.ToLower(key.Value) {
			return yamlconf.Errorf(key, "mentions: severity %q must be lower-case, as severity labels are compared lower-cased", key.Value)
		}
	}
	return nil
}

// Mention is whom a message notifies: a user ID (U… or W…), a user group
// ID (S…), or the words here or channel.
type Mention string

var (
	userIDRE  = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	groupIDRE = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
	// memberIDRE is a user's slack_id in the users list.
	memberIDRE = regexp.MustCompile(`^[UW][A-Z0-9]+$`)
)

// mentionIDs are users' and user groups' IDs as Notification.Mentions
// takes them: as they are, users first.
func mentionIDs(users, groups []string) []string {
	return slices.Concat(users, groups)
}

// ParseMention checks that s is a Slack user ID, user group ID, here or
// channel.
func ParseMention(s string) (Mention, error) {
	if s == "here" || s == "channel" || userIDRE.MatchString(s) || groupIDRE.MatchString(s) {
		return Mention(s), nil
	}
	return "", fmt.Errorf("%q is not a Slack mention: want a user ID (U… or W…), a user group ID (S…), here or channel", s)
}

// Sequence is the control sequence that notifies m: <@U…>,
// <!subteam^S…>, <!here> or <!channel>.
func (m Mention) Sequence() string {
	switch s := string(m); {
	case s == "here" || s == "channel":
		return "<!" + s + ">"
	case strings.HasPrefix(s, "S"):
		return "<!subteam^" + s + ">"
	default:
		return "<@" + s + ">"
	}
}

// UnmarshalYAML validates a mention.
func (m *Mention) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return err
	}
	parsed, err := ParseMention(s)
	if err != nil {
		return yamlconf.Errorf(node, "mentions: %v", err)
	}
	*m = parsed
	return nil
}

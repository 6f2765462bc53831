package notify

import (
	"fmt"
	"regexp"
)

// Integration is what an integration's package tells the registry
// (pkg/notify/integrations) about itself: everything the receiver needs
// to read its channels' config, build their notifiers and, for a chat
// integration, name its users and groups.
type Integration struct {
	// Name is the channel's config key for the integration, such as
	// "slack", and its name in logs and commands.
	Name string
	// NewConfig returns a config for a channel's YAML to be decoded into.
	NewConfig func() ChannelConfig
	// BuiltIn is the integration's channel in the built-in config.
	BuiltIn BuiltIn
	// Chat is set for a chat integration, whose messages mention people;
	// nil for a pager such as PagerDuty, which escalates by itself.
	Chat *ChatIDs
}

// ChannelConfig is the decoded config of one channel of an integration.
type ChannelConfig interface {
	// NewNotifier builds the channel's notifier. It fails when the config
	// cannot work, such as with a template that does not render.
	NewNotifier(opts Options) (Notifier, error)
	// Limit is the upstream's rate limit for one channel.
	Limit() Limit
	// ResolvePaths makes relative *_file paths relative to the directory
	// of configFile.
	ResolvePaths(configFile string)
}

// BuiltIn is a channel that the built-in config adds when the environment
// variable Env is set and not empty. The zero BuiltIn adds none: an
// integration that cannot work from one variable, such as the generic
// webhook, has no built-in channel.
type BuiltIn struct {
	Env string
	// YAML is the channel's config, a single line such as
	// "routing_key_env: PAGERDUTY_INTEGRATION_KEY".
	YAML string
}

// ChatIDs says how the config names a chat integration's users and
// groups, and how its notifications mention them.
type ChatIDs struct {
	// UserKey is the key of a user's ID in the users list, such as
	// "slack_id".
	UserKey string
	// GroupKey is the key of an escalation target that mentions a group
	// of people, such as "slack_user_group".
	GroupKey string
	// CheckUser and CheckGroup say what is wrong with a user's or a
	// group's ID, naming its key; nil for a good one.
	CheckUser, CheckGroup func(id string) error
	// Mentions lists users' and groups' IDs as the integration's
	// Notification.Mentions takes them.
	Mentions func(users, groups []string) []string
}

// Chat is the Notifier of a chat integration. Besides triggers and
// resolutions it delivers escalate and acknowledged notifications, shows
// a Notification's AckURL as an acknowledge link and mentions
// Notification.Mentions; the receiver sends those to chat channels only.
type Chat interface {
	Notifier
	// Mentions lists users' and groups' IDs as Notification.Mentions
	// takes them.
	Mentions(users, groups []string) []string
}

// Built returns what an integration's New returned as a Notifier, nil
// when err is set, for ChannelConfig.NewNotifier.
func Built[N Notifier](n N, err error) (Notifier, error) {
	if err != nil {
		return nil, err
	}
	return n, nil
}

// MatchID returns a ChatIDs check that wants IDs matching re; its error
// is format with the ID.
func MatchID(re *regexp.Regexp, format string) func(id string) error {
	return func(id string) error {
		if !re.MatchString(id) {
			return fmt.Errorf(format, id)
		}
		return nil
	}
}

// Package integrations is the registry of klaxon-receiver's integrations:
// the one place that lists them. The receiver's config reads channels,
// users' chat IDs and escalation targets through it, so that no other
// package names an integration or knows its syntax.
//
// Adding an integration is a package under pkg/notify whose Config
// implements notify.ChannelConfig and which exports a notify.Integration,
// plus one line in registered.
package integrations

import (
	"fmt"
	"slices"
	"strings"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/discord"
	"github.com/klaxonhq/klaxon/pkg/notify/opsgenie"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty"
	"github.com/klaxonhq/klaxon/pkg/notify/slack"
	"github.com/klaxonhq/klaxon/pkg/notify/webhook"
)

// registered are the integrations, in the order that errors and the
// built-in config list them.
var registered = []notify.Integration{
	pagerduty.Integration,
	opsgenie.Integration,
	slack.Integration,
	discord.Integration,
	webhook.Integration,
}

// Register adds an integration after those of this package. It is for
// tests, and must be called before any config is read, such as from
// TestMain.
func Register(in notify.Integration) {
	registered = append(registered, in)
}

// All lists the integrations.
func All() []notify.Integration { return slices.Clone(registered) }

// Chats lists the chat integrations, those with ChatIDs.
func Chats() []notify.Integration {
	return slices.DeleteFunc(All(), func(in notify.Integration) bool { return in.Chat == nil })
}

// Get returns the integration named name.
func Get(name string) (notify.Integration, bool) {
	i := slices.IndexFunc(registered, func(in notify.Integration) bool { return in.Name == name })
	if i < 0 {
		return notify.Integration{}, false
	}
	return registered[i], true
}

// Names lists the integrations' names.
func Names() []string {
	return names(registered, func(in notify.Integration) string { return in.Name })
}

// GroupKeys lists the chat integrations' escalation target keys, such as
// slack_user_group.
func GroupKeys() []string {
	return names(Chats(), func(in notify.Integration) string { return in.Chat.GroupKey })
}

func names(ins []notify.Integration, name func(notify.Integration) string) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = name(in)
	}
	return out
}

// OneOf lists choices as "a, b or c".
func OneOf(choices []string) string {
	if len(choices) < 2 {
		return strings.Join(choices, "")
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}

// BuiltInChannel is a channel of the built-in config: YAML, named Name,
// is added when the environment variable Env is set and not empty.
type BuiltInChannel struct {
	Env, Name, YAML string
	// Chat is true for a chat integration's channel.
	Chat bool
}

// BuiltInChannels lists every integration's built-in channel, named after
// the integration; an integration without one (no BuiltIn.Env) is left
// out.
func BuiltInChannels() []BuiltInChannel {
	var out []BuiltInChannel
	for _, in := range registered {
		if in.BuiltIn.Env == "" {
			continue
		}
		out = append(out, BuiltInChannel{
			Env: in.BuiltIn.Env, Name: in.Name,
			YAML: fmt.Sprintf("%s:\n  %s\n", in.Name, in.BuiltIn.YAML),
			Chat: in.Chat != nil,
		})
	}
	return out
}

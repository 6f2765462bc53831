package escalation

import (
	"slices"
	"time"
)

// Kind says why a page is sent.
type Kind string

// The kinds of page.
const (
	// KindEscalate: a level's time came without an acknowledgement.
	KindEscalate Kind = "escalate"
	// KindRepage: the acknowledgement timed out, or was taken back, while
	// the incident still fires; the current level is paged again.
	KindRepage Kind = "repage"
	// KindAcknowledged tells the channels who acknowledged. It mentions
	// nobody.
	KindAcknowledged Kind = "acknowledged"
	// KindNewAlerts: alerts joined an acknowledged incident; the current
	// level is paged again.
	KindNewAlerts Kind = "new-alerts"
)

// Page is one message to send for an incident's escalation.
type Page struct {
	// Level is the level paged, from 1; for KindAcknowledged the level
	// reached (0 when none had been paged).
	Level int `json:"level"`
	// Loop is the run through the levels, from 1.
	Loop    int      `json:"loop"`
	Kind    Kind     `json:"kind"`
	Targets []Target `json:"targets,omitempty"`
	// Due is when the page fell due. A page sent late, after a restart,
	// keeps its due time.
	Due time.Time `json:"due"`
	// By is who acknowledged, for KindAcknowledged.
	By string `json:"by,omitempty"`
	// Fingerprints are the alerts that joined, for KindNewAlerts.
	Fingerprints []string `json:"fingerprints,omitempty"`

	// Users, Mentions and Uncovered are filled by AddRecipients.

	// Users are the people paged: named users and the schedules' on-call
	// users at Due, each once.
	Users    []string `json:"users,omitempty"`
	Mentions Mentions `json:"mentions,omitzero"`
	// Uncovered are the target schedules with nobody on call at Due.
	Uncovered []string `json:"uncovered,omitempty"`
}

// Mentions are the IDs that the Slack and Discord notifiers mention.
type Mentions struct {
	SlackIDs     []string `json:"slack_ids,omitempty"`
	SlackGroups  []string `json:"slack_groups,omitempty"`
	DiscordUsers []string `json:"discord_users,omitempty"`
	DiscordRoles []string `json:"discord_roles,omitempty"`
}

// Slack lists the mentions as the Slack notifier takes them in
// notify.Notification.Mentions: user and user group IDs.
func (m Mentions) Slack() []string {
	return slices.Concat(m.SlackIDs, m.SlackGroups)
}

// Discord lists the mentions as the Discord notifier takes them in
// notify.Notification.Mentions: <@user> and <@&role>.
func (m Mentions) Discord() []string {
	var out []string
	for _, id := range m.DiscordRoles {
		out = append(out, "<@&"+id+">")
	}
	for _, id := range m.DiscordUsers {
		out = append(out, "<@"+id+">")
	}
	return out
}

// Resolver says who is on call for a schedule at a time.
type Resolver interface {
	OnCall(schedule string, at time.Time) (user string, ok bool)
}

// Users looks up a user's chat IDs; either may be empty.
type Users interface {
	Mentions(user string) (slackID, discordID string, ok bool)
}

// AddRecipients resolves the page's targets at its due time: schedules to
// their on-call user through r, users to their chat IDs through u. Either
// may be nil.
func (p *Page) AddRecipients(r Resolver, u Users) {
	p.Users, p.Mentions, p.Uncovered = nil, Mentions{}, nil
	for _, t := range p.Targets {
		switch {
		case t.Schedule != "":
			user, ok := "", false
			if r != nil {
				user, ok = r.OnCall(t.Schedule, p.Due)
			}
			if !ok || user == "" {
				p.Uncovered = appendNew(p.Uncovered, t.Schedule)
				continue
			}
			p.addUser(user, u)
		case t.User != "":
			p.addUser(t.User, u)
		case t.SlackUserGroup != "":
			p.Mentions.SlackGroups = appendNew(p.Mentions.SlackGroups, t.SlackUserGroup)
		case t.DiscordRole != "":
			p.Mentions.DiscordRoles = appendNew(p.Mentions.DiscordRoles, t.DiscordRole)
		}
	}
}

func (p *Page) addUser(user string, u Users) {
	if slices.Contains(p.Users, user) {
		return
	}
	p.Users = append(p.Users, user)
	if u == nil {
		return
	}
	slackID, discordID, ok := u.Mentions(user)
	if !ok {
		return
	}
	if slackID != "" {
		p.Mentions.SlackIDs = appendNew(p.Mentions.SlackIDs, slackID)
	}
	if discordID != "" {
		p.Mentions.DiscordUsers = appendNew(p.Mentions.DiscordUsers, discordID)
	}
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

package incident

import (
	"time"

	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
)

// Prepare readies a notification for sending: relative runbook links
// become absolute, and a chat channel's trigger message of a route with
// an escalation policy mentions the policy's first level as it is now.
// PagerDuty and Opsgenie escalate by themselves and get no mentions;
// resolve and test messages mention nobody.
func (m *Manager) Prepare(n *notify.Notification) {
	rt := m.current.Get()
	rt.Runbooks.ResolveMessage(n.Message)
	n.Mentions = append(n.Mentions, m.mentions(rt, n, rt.Now())...)
	m.addAckURL(rt, n)
}

func (m *Manager) mentions(rt *receiverconfig.Runtime, n *notify.Notification, now time.Time) []string {
	if n.Kind != notify.KindTrigger {
		return nil
	}
	ch, ok := rt.Channels[n.Channel]
	chat, isChat := ch.Notifier.(notify.Chat)
	if !ok || !isChat {
		return nil
	}
	page, ok := FirstPage(rt, n.Route, now)
	if !ok {
		return nil
	}
	if len(page.Uncovered) > 0 {
		m.logger.Warn("nobody on call to mention", "route", n.Route, "channel", n.Channel, "schedules", page.Uncovered,
			"fallbacks", len(page.Redirects))
	}
	n.Redirects = page.NotifyRedirects()
	return page.MentionsOn(ch.Integration, chat)
}

// FirstPage is the page of the first level of the route's escalation
// policy, its recipients resolved at at; false when the route has none.
func FirstPage(rt *receiverconfig.Runtime, route string, at time.Time) (escalation.Page, bool) {
	r := rt.Config.Route(route)
	if r == nil || r.EscalationPolicy == "" {
		return escalation.Page{}, false
	}
	p, ok := rt.Config.EscalationPolicies.Get(r.EscalationPolicy)
	if !ok || len(p.Levels) == 0 {
		return escalation.Page{}, false
	}
	page := escalation.Page{Level: 1, Loop: 1, Kind: escalation.PageEscalate, Targets: p.Levels[0].Targets, Fallback: p.Fallback, Due: at}
	page.AddRecipients(rt.Roster, rt.Roster)
	return page, true
}

// AddAckURL gives n its acknowledgement link as Prepare does, with the
// config in force.
func (m *Manager) AddAckURL(n *notify.Notification) { m.addAckURL(m.current.Get(), n) }

// addAckURL gives a chat channel's trigger or escalate message of a
// route with an escalation policy its acknowledgement link, unless it has
// one. Prepare calls it at send time. Without a key to sign with, the
// message goes without a link and a warning is logged.
func (m *Manager) addAckURL(rt *receiverconfig.Runtime, n *notify.Notification) {
	if n.AckURL != "" || (n.Kind != notify.KindTrigger && n.Kind != notify.KindEscalate) {
		return
	}
	ch, ok := rt.Channels[n.Channel]
	if _, isChat := ch.Notifier.(notify.Chat); !ok || !isChat {
		return
	}
	if r := rt.Config.Route(n.Route); r == nil || r.EscalationPolicy == "" {
		return
	}
	link, err := rt.AckURL(n.IncidentKey, rt.Now())
	if err != nil {
		m.logger.Warn("message sent without an acknowledgement link", "channel", n.Channel, "incident", n.IncidentKey, "err", err)
		return
	}
	n.AckURL = link
}

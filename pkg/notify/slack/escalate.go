package slack

import (
	"fmt"
	"strings"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// maxEscalateSummary is the share of one alert's summary in an escalate
// message, which stays short: the trigger message has the details.
const maxEscalateSummary = 200

// escalationMessage is the message of an escalate or acknowledged
// notification: the headline in the top-level text, after the mentions of
// the level's targets for an escalate one, and an attachment with the
// firing alerts' summaries and runbooks for an escalate one.
func (r *renderer) escalationMessage(tmpl *notify.Template, n *notify.Notification, mentions string) (string, attachment, error) {
	title, err := r.title(tmpl, escapeNotification(n))
	if err != nil {
		return "", attachment{}, err
	}
	att := attachment{
		Color:     color(n),
		Title:     title,
		TitleLink: titleLink(n.Message),
		Footer:    footer(n),
		Ts:        unix(n.CreatedAt),
		MrkdwnIn:  []string{"text"},
	}
	if n.Kind == notify.KindAcknowledged {
		headline := title + " acknowledged by " + r.field("acked_by", oneLine(n.AckedBy), maxLabelValue)
		att.Fallback = headline
		return headline, att, nil
	}
	headline := fmt.Sprintf("%s is still firing and not acknowledged: escalated to level %d", title, n.Level)
	att.Fallback = headline
	att.Text = r.escalationList(n)
	if mentions != "" {
		headline = mentions + " " + headline
	}
	return withRedirects(headline, n), att, nil
}

// withRedirects adds to a message's top-level text, on a line of its
// own each, the schedules with nobody on call whose fallback escalation
// pages instead. Schedule and user names need no escaping.
func withRedirects(text string, n *notify.Notification) string {
	note := n.RedirectNote()
	switch {
	case note == "":
		return text
	case text == "":
		return note
	}
	return text + "\n" + note
}

// escalationList is each firing alert's name, summary and runbook, at most
// max_alerts of them, the rest and the alerts Alertmanager left out
// counted, then the acknowledge link.
func (r *renderer) escalationList(n *notify.Notification) string {
	firing := n.Message.Firing()
	more := int(n.Message.TruncatedAlerts)
	var lines []string
	for i, a := range firing {
		if i == r.conf.MaxAlerts {
			more += len(firing) - i
			break
		}
		lines = append(lines, r.escalationLine(a))
	}
	if more > 0 {
		lines = append(lines, fmt.Sprintf("_and %d more_", more))
	}
	text := r.limit("attachment text", strings.Join(lines, "\n"), maxAttachmentText-moreReserve)
	if ack := r.ackLink(n); ack != "" {
		text += "\n" + ack
	}
	return strings.TrimLeft(text, "\n")
}

func (r *renderer) escalationLine(a alert.Alert) string {
	line := "*" + r.field("alertname", oneLine(a.Labels["alertname"]), maxLabelValue) + "*"
	if s := oneLine(a.Annotations["summary"]); s != "" {
		line += ": " + r.field("summary", s, maxEscalateSummary)
	}
	if u := a.Annotations["runbook_url"]; u != "" {
		line += " · " + r.link(u, "Runbook")
	}
	return line
}

// ackLink is the "Acknowledge" link of n's signed ack URL, empty when n
// has none or it is not a web address.
func (r *renderer) ackLink(n *notify.Notification) string {
	if !isWebURL(n.AckURL) {
		return ""
	}
	return r.link(n.AckURL, "Acknowledge")
}

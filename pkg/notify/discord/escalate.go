package discord

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// Shares of an escalate message: it stays short, as the trigger message
// has the details.
const (
	maxEscalateSummary = 200
	// maxAckLink bounds the "Acknowledge" link; a longer one is left out
	// rather than crowd the content's mentions.
	maxAckLink = maxContent / 4
)

// escalationMessage is the content and embed of an escalate or
// acknowledged notification: the headline in content, after the mentions
// of the level's targets for an escalate one, and an embed listing the
// firing alerts' summaries and runbooks for an escalate one.
func (n *Notifier) escalationMessage(logger *slog.Logger, nt *notify.Notification, msg *message) {
	title := groupTitle(nt.Message)
	if nt.Kind == notify.KindAcknowledged {
		by, _ := notify.Truncate(strings.Join(strings.Fields(nt.AckedBy), " "), maxFieldName)
		msg.Content = fmt.Sprintf("**%s** acknowledged by %s", title, orDash(escape(by)))
		return
	}
	headline := fmt.Sprintf("**%s** is still firing and not acknowledged: escalated to level %d", title, nt.Level)
	headline = withRedirects(headline, nt)
	if ack := ackLink(nt); ack != "" {
		headline += "\n" + ack
	}
	e := embed{
		Title:       title,
		Description: escalationList(nt, n.conf.MaxAlerts),
		Color:       groupColor(nt.Message),
		Footer:      &footer{Text: footerText(nt)},
	}
	if !nt.CreatedAt.IsZero() {
		e.Timestamp = nt.CreatedAt.UTC().Format(time.RFC3339)
	}
	msg.Embeds = []embed{e}
	msg.Content, msg.AllowedMentions = n.mentions(logger, nt, headline)
}

// withRedirects adds to a message's content, on a line of its own each,
// the schedules with nobody on call whose fallback escalation pages
// instead.
func withRedirects(content string, nt *notify.Notification) string {
	if note := nt.RedirectNote(); note != "" {
		return content + "\n" + escape(note)
	}
	return content
}

// groupTitle names the group as the default per-alert title does.
func groupTitle(m *alert.Message) string {
	name := m.CommonLabels["alertname"]
	if name == "" && len(m.Alerts) > 0 {
		name = m.Alerts[0].Labels["alertname"]
	}
	title := fmt.Sprintf("[%s:%d] %s", strings.ToUpper(m.Status), len(m.Firing()), escape(oneLine(name)))
	t, _ := notify.Truncate(title, maxTitle/2)
	return t
}

// escalationList is each firing alert's name, summary and runbook, at most
// max of them, held within Discord's description limit; the rest, and the
// alerts Alertmanager left out, are counted.
func escalationList(nt *notify.Notification, max int) string {
	firing := nt.Message.Firing()
	more := int(nt.Message.TruncatedAlerts)
	var b strings.Builder
	for i, a := range firing {
		line := escalationLine(a) + "\n"
		if i == max || runes(b.String())+runes(line) > maxDescription-moreRoom {
			more += len(firing) - i
			break
		}
		b.WriteString(line)
	}
	if more > 0 {
		fmt.Fprintf(&b, "…and %d more", more)
	}
	return strings.TrimRight(b.String(), "\n")
}

// moreRoom is kept at the end of the list for its "and N more" line.
const moreRoom = 40

func escalationLine(a alert.Alert) string {
	name, _ := notify.Truncate(oneLine(a.Labels["alertname"]), maxFieldName)
	line := "**" + orDash(escape(name)) + "**"
	if s := oneLine(a.Annotations["summary"]); s != "" {
		s, _ = notify.Truncate(s, maxEscalateSummary)
		line += ": " + escape(s)
	}
	if l, ok := mdLink("Runbook", a.Annotations["runbook_url"]); ok && runes(l) <= maxFieldValue {
		line += " · " + l
	}
	return line
}

// ackLink is the "Acknowledge" link of the notification's signed ack URL,
// empty when it has none, it is not a web address or it is too long.
func ackLink(nt *notify.Notification) string {
	l, ok := mdLink("Acknowledge", nt.AckURL)
	if !ok || runes(l) > maxAckLink {
		return ""
	}
	return l
}

// groupColor colours the group by its most severe firing alert's colour,
// as the first alert of a trigger message is.
func groupColor(m *alert.Message) int {
	if firing := m.Firing(); len(firing) > 0 {
		return color(ordered(firing)[0])
	}
	return colorResolved
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

package discord

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/notify"
)

// MaxDigest is the most notifications one Discord message covers when
// several wait for the webhook's rate limit: fifteen short lines fit the
// 6,000 characters all embeds of a message may hold.
const MaxDigest = 15

// Shares of a digest, in characters as Discord counts them.
const (
	// maxDigestText is the lines' share of maxEmbedTotal; the rest is
	// for the title and footer.
	maxDigestText = maxEmbedTotal - 400
	// maxDigestHead bounds a line's status, name and tags, escaped.
	maxDigestHead = 300
	// maxDigestLink is the longest runbook link a line keeps; a longer
	// one is left out (the acknowledge link has maxAckLink).
	maxDigestLink = 300
	// maxDigestHeadline bounds the content's headline: counts only.
	maxDigestHeadline = 120
)

// Shares of one line, in characters of the alerts' own text before
// escaping.
const (
	maxDigestName    = 80
	maxDigestTag     = 40
	maxDigestTags    = 4
	maxDigestSummary = 200
)

// MaxDigest is the most notifications one digest covers.
func (n *Notifier) MaxDigest() int { return MaxDigest }

// NotifyDigest posts one message with a line for each of the first
// notifications of ns that fit, at most MaxDigest, pinging everyone they
// would have pinged, and returns how many it covers. When only the first
// fits, it posts that notification's own message.
func (n *Notifier) NotifyDigest(ctx context.Context, ns []*notify.Notification) (int, error) {
	msg, covered := n.buildDigest(ns)
	if covered < 2 {
		return 1, n.Notify(ctx, ns[0])
	}
	return covered, n.post(ctx, msg)
}

// buildDigest renders a digest of the first notifications of ns that
// fit and returns it with their number: each adds its line to the
// embeds, and its mentions to the content.
func (n *Notifier) buildDigest(ns []*notify.Notification) (*message, int) {
	lines := map[*notify.Notification]notify.DigestLine{}
	var roles, users []string
	fixed, covered := 0, 0
	for _, nt := range ns[:min(len(ns), MaxDigest)] {
		l := digestLineOf(nt)
		r, u := n.mentionIDs(n.logger, nt)
		r, u = union(roles, r), union(users, u)
		size := fixed + runes(l.Head) + runes(l.Tail) + 1
		if covered > 0 && (size > maxDigestText || !mentionsFit(r, u)) {
			break
		}
		lines[nt], roles, users, fixed, covered = l, r, u, size, covered+1
	}
	body := notify.FitDigest(ns[:covered], lines, escape, maxDigestSummary, maxDigestText)
	summary := max(body.Summary, 0)
	cut := 0
	for _, l := range body.Lines {
		if runes(l.Summary) > summary {
			cut++
		}
	}
	if cut > 0 {
		n.logger.Warn("discord digest summaries shortened to fit Discord's limits", "summaries_cut", cut, "notifications", covered)
	}
	headline := notify.DigestHeadline(body.Ordered)
	msg := &message{
		Username:  n.conf.Username,
		AvatarURL: n.conf.AvatarURL,
		Embeds:    digestEmbeds(headline, body.Render(summary), digestColors[body.Urgency], covered, body.Latest()),
	}
	msg.Content, msg.AllowedMentions = content(n.logger, roles, users, "**"+headline+"**")
	return msg, covered
}

// digestColors colour a digest by its most urgent line
// (notify.DigestItem.Urgency).
var digestColors = []int{colorResolved, colorOther, colorWarning, colorCritical}

// digestEmbeds puts the lines into as few embeds as their descriptions
// allow, the first titled with the headline, the last with the footer.
func digestEmbeds(headline string, lines []string, color, covered int, at time.Time) []embed {
	var embeds []embed
	var b strings.Builder
	flush := func() {
		embeds = append(embeds, embed{Description: b.String(), Color: color})
		b.Reset()
	}
	for _, line := range lines {
		if b.Len() > 0 && runes(b.String())+1+runes(line) > maxDescription {
			flush()
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	flush()
	embeds[0].Title, _ = notify.Truncate(headline, maxTitle)
	last := &embeds[len(embeds)-1]
	last.Footer = &footer{Text: fmt.Sprintf("Klaxon · %d notifications in one message, for Discord's rate limit", covered)}
	if !at.IsZero() {
		last.Timestamp = at.UTC().Format(time.RFC3339)
	}
	return embeds
}

// digestLineOf is nt's line: status, name, tags, then the summary and the
// runbook and acknowledge links.
func digestLineOf(nt *notify.Notification) notify.DigestLine {
	it := notify.NewDigestItem(nt)
	status := it.Status()
	if nt.Kind == notify.KindAcknowledged {
		by, _ := notify.Truncate(oneLine(it.AckedBy), maxDigestTag)
		status += " by " + orDash(escape(by))
	}
	name, _ := notify.Truncate(oneLine(it.Name), maxDigestName)
	head := "**[" + status + "]** " + orDash(escape(name))
	if it.Others > 0 {
		head += fmt.Sprintf(" and %d more", it.Others)
	}
	if note := it.LeftOutNote(); note != "" {
		head += " (" + note + ")"
	}
	for i, tag := range it.Tags() {
		if i == maxDigestTags {
			head += " · …"
			break
		}
		tag, _ = notify.Truncate(oneLine(tag), maxDigestTag)
		head += " · " + escape(tag)
	}
	head, _ = notify.Truncate(head, maxDigestHead)
	var tail string
	if it.Redirect != "" {
		note, _ := notify.Truncate(it.Redirect, maxDigestHead)
		tail += " · " + escape(note)
	}
	if l, ok := mdLink("Runbook", it.Runbook); ok && runes(l) <= maxDigestLink {
		tail += " · " + l
	}
	if l := ackLink(nt); l != "" {
		tail += " · " + l
	}
	return notify.DigestLine{Head: head, Summary: oneLine(it.Summary), Tail: tail, Urgency: it.Urgency()}
}

// mentionsFit says whether the content has room for the mentions of
// roles and users besides a digest's headline.
func mentionsFit(roles, users []string) bool {
	size := maxDigestHeadline
	for _, id := range roles {
		size += len("<@&"+id+">") + 1
	}
	for _, id := range users {
		size += len("<@"+id+">") + 1
	}
	return len(roles) <= maxMentionIDs && len(users) <= maxMentionIDs && size <= maxContent
}

// union is ids with those of more it does not hold yet added, in order.
func union(ids, more []string) []string {
	out := slices.Clone(ids)
	for _, id := range more {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

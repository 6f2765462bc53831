package discord

import (
	"context"
	"fmt"
	"slices"
	"sort"
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

// digestLine is one notification's line: its head and links are kept
// whole, its summary is cut to what the digest has room for.
type digestLine struct {
	head, summary, tail string
	urgency             int
}

// render is the line with the summary cut to at most max characters.
func (l digestLine) render(max int) string {
	out := l.head
	if s, _ := notify.Truncate(l.summary, max); s != "" {
		out += ": " + escape(s)
	}
	return out + l.tail
}

// buildDigest renders a digest of the first notifications of ns that
// fit and returns it with their number: each adds its line to the
// embeds, and its mentions to the content.
func (n *Notifier) buildDigest(ns []*notify.Notification) (*message, int) {
	logger := n.logger.With("channel", ns[0].Channel)
	lines := map[*notify.Notification]digestLine{}
	var roles, users []string
	fixed, covered := 0, 0
	for _, nt := range ns[:min(len(ns), MaxDigest)] {
		l := digestLineOf(nt)
		r, u := n.mentionIDs(logger, nt)
		r, u = union(roles, r), union(users, u)
		size := fixed + runes(l.head) + runes(l.tail) + 1
		if covered > 0 && (size > maxDigestText || !mentionsFit(r, u)) {
			break
		}
		lines[nt], roles, users, fixed, covered = l, r, u, size, covered+1
	}
	ordered := notify.ByIncident(ns[:covered])
	render := func(max int) []string {
		out := make([]string, len(ordered))
		for i, nt := range ordered {
			out[i] = lines[nt].render(max)
		}
		return out
	}
	size := func(max int) int {
		total := 0
		for _, line := range render(max) {
			total += runes(line) + 1
		}
		return total
	}
	// The longest common summary length that fits.
	summary := max(sort.Search(maxDigestSummary+1, func(max int) bool { return size(max) > maxDigestText })-1, 0)
	urgency, cut := 0, 0
	for _, nt := range ordered {
		if runes(lines[nt].summary) > summary {
			cut++
		}
		urgency = max(urgency, lines[nt].urgency)
	}
	if cut > 0 {
		logger.Warn("discord digest summaries shortened to fit Discord's limits", "summaries_cut", cut, "notifications", covered)
	}
	headline := notify.DigestHeadline(ordered)
	msg := &message{
		Username:  n.conf.Username,
		AvatarURL: n.conf.AvatarURL,
		Embeds:    digestEmbeds(headline, render(summary), digestColors[urgency], covered, latest(ordered)),
	}
	msg.Content, msg.AllowedMentions = content(logger, roles, users, "**"+headline+"**")
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
func digestLineOf(nt *notify.Notification) digestLine {
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
	if l, ok := mdLink("Runbook", it.Runbook); ok && runes(l) <= maxDigestLink {
		tail += " · " + l
	}
	if l := ackLink(nt); l != "" {
		tail += " · " + l
	}
	return digestLine{head: head, summary: oneLine(it.Summary), tail: tail, urgency: it.Urgency()}
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

// latest is when the newest of ns was accepted.
func latest(ns []*notify.Notification) time.Time {
	var t time.Time
	for _, n := range ns {
		if n.CreatedAt.After(t) {
			t = n.CreatedAt
		}
	}
	return t
}

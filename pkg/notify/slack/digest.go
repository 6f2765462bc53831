package slack

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klaxonhq/klaxon/pkg/notify"
)

// MaxDigest is the most notifications one Slack message covers when
// several wait for the webhook's rate limit: twenty lines, each kept
// short, fit well inside Slack's limits.
const MaxDigest = 20

// Shares of a digest.
const (
	// maxDigestText bounds the digest's list, leaving room within
	// Slack's 40,000 characters for the mentions.
	maxDigestText = 30000
	// maxDigestHead bounds a line's status, name and tags, escaped.
	maxDigestHead = 400
	// maxDigestLink is the longest link a line keeps; a longer one is
	// left out.
	maxDigestLink = 600
)

// Shares of one line, in runes of the alerts' own text before escaping.
const (
	maxDigestName    = 100
	maxDigestTag     = 60
	maxDigestTags    = 4
	maxDigestSummary = 300
)

// MaxDigest is the most notifications one digest covers.
func (s *Notifier) MaxDigest() int { return MaxDigest }

// NotifyDigest posts one message with a line for each of the first
// notifications of ns that fit, at most MaxDigest, mentioning everyone
// they would have mentioned, and returns how many it covers. When only
// the first fits, it posts that notification's own message.
func (s *Notifier) NotifyDigest(ctx context.Context, ns []*notify.Notification) (int, error) {
	msg, covered := s.buildDigest(ns)
	if covered < 2 {
		return 1, s.Notify(ctx, ns[0])
	}
	return covered, s.post(ctx, msg)
}

// digestLine is one notification's line: its head and links are kept
// whole, its summary is cut to what the digest has room for.
type digestLine struct {
	head, summary, tail string
	urgency             int
}

// render is the line with the summary cut to at most max runes.
func (l digestLine) render(max int) string {
	out := l.head
	if s, _ := notify.Truncate(l.summary, max); s != "" {
		out += ": " + escape(s)
	}
	return out + l.tail
}

// buildDigest renders a digest of the first notifications of ns that
// fit and returns it with their number: each adds its line, and its
// mentions to the message's text.
func (s *Notifier) buildDigest(ns []*notify.Notification) (*message, int) {
	r := &renderer{conf: s.conf}
	lines := map[*notify.Notification]digestLine{}
	var seqs []string
	fixed, covered := 0, 0
	for _, n := range ns[:min(len(ns), MaxDigest)] {
		l := r.digestLine(n)
		union := slices.Clone(seqs)
		for _, seq := range s.mentionSeqs(n) {
			if !slices.Contains(union, seq) {
				union = append(union, seq)
			}
		}
		size := fixed + runes(l.head) + runes(l.tail) + 1
		if covered > 0 && (size > maxDigestText || runes(strings.Join(union, " ")) > maxText) {
			break
		}
		lines[n], seqs, fixed, covered = l, union, size, covered+1
	}
	ordered := notify.ByIncident(ns[:covered])
	render := func(max int) []string {
		out := make([]string, len(ordered))
		for i, n := range ordered {
			out[i] = lines[n].render(max)
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
	summary := sort.Search(maxDigestSummary+1, func(max int) bool { return size(max) > maxDigestText }) - 1
	urgency := 0
	for _, n := range ordered {
		if l := lines[n]; runes(l.summary) > summary {
			r.cuts = append(r.cuts, "summary")
		}
		urgency = max(urgency, lines[n].urgency)
	}
	headline := notify.DigestHeadline(ordered)
	msg := &message{
		Channel:   s.conf.Channel,
		Username:  s.conf.Username,
		IconEmoji: s.conf.IconEmoji,
		Text:      strings.Join(seqs, " "),
		Attachments: []attachment{{
			Color:     digestColors[urgency],
			Fallback:  headline,
			Title:     headline,
			TitleLink: titleLink(ordered[0].Message),
			Text:      strings.Join(render(max(summary, 0)), "\n"),
			Footer:    fmt.Sprintf("klaxon-receiver · %d notifications in one message, for Slack's rate limit", covered),
			Ts:        unix(latest(ordered)),
			MrkdwnIn:  []string{"text"},
		}},
	}
	if len(r.cuts) > 0 {
		s.logger.Warn("shortened a slack digest to hold Slack's limits",
			"channel", ns[0].Channel, "notifications", covered, "cut", strings.Join(slices.Compact(slices.Sorted(slices.Values(r.cuts))), ", "))
	}
	return msg, covered
}

// digestColors colour a digest by its most urgent line
// (notify.DigestItem.Urgency).
var digestColors = []string{colorResolved, colorOther, colorWarning, colorCritical}

// digestLine is n's line: status, name, tags, then the summary and the
// runbook and acknowledge links.
func (r *renderer) digestLine(n *notify.Notification) digestLine {
	it := notify.NewDigestItem(n)
	status := it.Status()
	if n.Kind == notify.KindAcknowledged {
		status += " by " + r.field("acked_by", oneLine(it.AckedBy), maxLabelValue)
	}
	head := "*[" + status + "]* " + r.field("alertname", oneLine(it.Name), maxDigestName)
	if it.Others > 0 {
		head += fmt.Sprintf(" and %d more", it.Others)
	}
	for i, tag := range it.Tags() {
		if i == maxDigestTags {
			head += " · …"
			break
		}
		head += " · " + r.field("tag", oneLine(tag), maxDigestTag)
	}
	var tail string
	for _, link := range []struct{ url, label string }{{it.Runbook, "Runbook"}, {it.AckURL, "Acknowledge"}} {
		if l := r.digestLink(link.url, link.label); l != "" {
			tail += " · " + l
		}
	}
	return digestLine{
		head:    r.limit("digest line", head, maxDigestHead),
		summary: oneLine(it.Summary),
		tail:    tail,
		urgency: it.Urgency(),
	}
}

// digestLink is a link to raw if it is a web address short enough for a
// digest line.
func (r *renderer) digestLink(raw, label string) string {
	if !isWebURL(raw) {
		return ""
	}
	l := r.link(raw, label)
	if runes(l) > maxDigestLink {
		r.cuts = append(r.cuts, strings.ToLower(label)+" link")
		return ""
	}
	return l
}

// latest is when the newest of ns was accepted.
func latest(ns []*notify.Notification) (t time.Time) {
	for _, n := range ns {
		if n.CreatedAt.After(t) {
			t = n.CreatedAt
		}
	}
	return t
}

func runes(s string) int { return utf8.RuneCountInString(s) }

package slack

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

// buildDigest renders a digest of the first notifications of ns that
// fit and returns it with their number: each adds its line, and its
// mentions to the message's text.
func (s *Notifier) buildDigest(ns []*notify.Notification) (*message, int) {
	r := &renderer{conf: s.conf}
	lines := map[*notify.Notification]notify.DigestLine{}
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
		size := fixed + runes(l.Head) + runes(l.Tail) + 1
		if covered > 0 && (size > maxDigestText || runes(strings.Join(union, " ")) > maxText) {
			break
		}
		lines[n], seqs, fixed, covered = l, union, size, covered+1
	}
	body := notify.FitDigest(ns[:covered], lines, escape, maxDigestSummary, maxDigestText)
	for _, l := range body.Lines {
		if runes(l.Summary) > body.Summary {
			r.cuts = append(r.cuts, "summary")
		}
	}
	headline := notify.DigestHeadline(body.Ordered)
	msg := &message{
		Channel:   s.conf.Channel,
		Username:  s.conf.Username,
		IconEmoji: s.conf.IconEmoji,
		Text:      strings.Join(seqs, " "),
		Attachments: []attachment{{
			Color:     digestColors[body.Urgency],
			Fallback:  headline,
			Title:     headline,
			TitleLink: titleLink(body.Ordered[0].Message),
			Text:      strings.Join(body.Render(max(body.Summary, 0)), "\n"),
			Footer:    fmt.Sprintf("klaxon-receiver · %d notifications in one message, for Slack's rate limit", covered),
			Ts:        unix(body.Latest()),
			MrkdwnIn:  []string{"text"},
		}},
	}
	if len(r.cuts) > 0 {
		s.logger.Warn("shortened a slack digest to hold Slack's limits",
			"notifications", covered, "cut", strings.Join(slices.Compact(slices.Sorted(slices.Values(r.cuts))), ", "))
	}
	return msg, covered
}

// digestColors colour a digest by its most urgent line
// (notify.DigestItem.Urgency).
var digestColors = []string{colorResolved, colorOther, colorWarning, colorCritical}

// digestLine is n's line: status, name, tags, then the summary and the
// runbook and acknowledge links.
func (r *renderer) digestLine(n *notify.Notification) notify.DigestLine {
	it := notify.NewDigestItem(n)
	status := it.Status()
	if n.Kind == notify.KindAcknowledged {
		status += " by " + r.field("acked_by", oneLine(it.AckedBy), maxLabelValue)
	}
	head := "*[" + status + "]* " + r.field("alertname", oneLine(it.Name), maxDigestName)
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
		head += " · " + r.field("tag", oneLine(tag), maxDigestTag)
	}
	var tail string
	if it.Redirect != "" {
		tail += " · " + r.field("redirect", it.Redirect, maxDigestHead)
	}
	for _, link := range []struct{ url, label string }{{it.Runbook, "Runbook"}, {it.AckURL, "Acknowledge"}} {
		if l := r.digestLink(link.url, link.label); l != "" {
			tail += " · " + l
		}
	}
	return notify.DigestLine{
		Head:    r.limit("digest line", head, maxDigestHead),
		Summary: oneLine(it.Summary),
		Tail:    tail,
		Urgency: it.Urgency(),
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

func runes(s string) int { return utf8.RuneCountInString(s) }

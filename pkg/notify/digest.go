package notify

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klaxonhq/klaxon/pkg/alert"
)

// Digester is a Notifier for a rate-limited chat channel that can cover
// several notifications with one message, a digest, so that what waits
// for the channel's next turn goes out in fewer, longer messages instead
// of falling further behind. PagerDuty and Opsgenie are not Digesters:
// each of their incidents needs its own request.
type Digester interface {
	Notifier
	// MaxDigest is the most notifications one digest covers.
	MaxDigest() int
	// NotifyDigest posts one message covering the first covered
	// notifications of ns, in order: as many as fit within the upstream's
	// limits with a line each and every mention they would make, at
	// least one and at most MaxDigest. It returns covered whether or not
	// the post succeeded; err is read as Notify's.
	NotifyDigest(ctx context.Context, ns []*Notification) (covered int, err error)
}

// DigestItem is what a digest line says of one notification, as plain
// text that each integration escapes and formats.
type DigestItem struct {
	Kind Kind
	// Firing and Resolved count the group's alerts.
	Firing, Resolved int
	// Name is the group's alert name: the common alertname, else the
	// first alert's; Others counts the group's other alert names.
	Name   string
	Others int
	// LeftOut counts the group's alerts Alertmanager left out of the
	// notification (its truncatedAlerts, past max_alerts).
	LeftOut int
	// Labels are the group's labels other than alertname, as name=value,
	// sorted by name.
	Labels []string
	// Severity is the group's severity (alert.Message.Severity).
	Severity string
	// Summary is the common summary, else the first firing (or first)
	// alert's.
	Summary string
	// Runbook is the common runbook_url, else the first alert's.
	Runbook string
	Level   int
	AckedBy string
	AckURL  string
	// Redirect says whom escalation paged for a schedule with nobody on
	// call (Notification.Redirects), on one line; "" when nobody else.
	Redirect string
}

// NewDigestItem reads what a digest line says of n.
func NewDigestItem(n *Notification) DigestItem {
	m := n.Message
	it := DigestItem{Kind: n.Kind, Level: n.Level, AckedBy: n.AckedBy, AckURL: n.AckURL,
		Redirect: strings.ReplaceAll(n.RedirectNote(), "\n", "; ")}
	if m == nil {
		return it
	}
	it.Firing, it.Resolved, it.LeftOut = len(m.Firing()), len(m.Resolved()), int(m.TruncatedAlerts)
	firstFiring := slices.Clone(m.Alerts)
	slices.SortStableFunc(firstFiring, func(a, b alert.Alert) int {
		return boolInt(a.Status != alert.StatusFiring) - boolInt(b.Status != alert.StatusFiring)
	})
	names := map[string]bool{}
	for _, a := range firstFiring {
		names[a.Labels["alertname"]] = true
	}
	it.Name = m.CommonLabels["alertname"]
	if it.Name == "" {
		it.Name = m.GroupLabels["alertname"]
	}
	if it.Name == "" && len(firstFiring) > 0 {
		it.Name = firstFiring[0].Labels["alertname"]
	}
	delete(names, it.Name)
	it.Others = len(names)
	for _, k := range slices.Sorted(maps.Keys(m.GroupLabels)) {
		if k != "alertname" {
			it.Labels = append(it.Labels, k+"="+m.GroupLabels[k])
		}
	}
	it.Severity = m.Severity()
	it.Summary, it.Runbook = m.CommonAnnotations["summary"], m.CommonAnnotations["runbook_url"]
	for _, a := range firstFiring {
		if it.Summary == "" {
			it.Summary = a.Annotations["summary"]
		}
		if it.Runbook == "" {
			it.Runbook = a.Annotations["runbook_url"]
		}
	}
	return it
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// LeftOutNote says how many alerts Alertmanager left out of the
// notification, for the line's head; "" when none.
func (it DigestItem) LeftOutNote() string {
	if it.LeftOut == 0 {
		return ""
	}
	return fmt.Sprintf("+%d alerts Alertmanager left out", it.LeftOut)
}

// Tags are what tells the group apart after its name: its severity,
// unless that is a group label, then its group labels.
func (it DigestItem) Tags() []string {
	var tags []string
	if it.Severity != "" && !slices.ContainsFunc(it.Labels, func(l string) bool { return strings.HasPrefix(l, "severity=") }) {
		tags = append(tags, it.Severity)
	}
	return append(tags, it.Labels...)
}

// Status is the line's status in Alertmanager's words, such as
// "FIRING:3" or "ESCALATED to level 2"; who acknowledged is left to the
// integration, which escapes it.
func (it DigestItem) Status() string {
	switch {
	case it.Kind == KindEscalate:
		return fmt.Sprintf("ESCALATED to level %d", it.Level)
	case it.Kind == KindAcknowledged:
		return "ACKNOWLEDGED"
	case it.Kind == KindResolve || it.Firing == 0:
		return "RESOLVED"
	}
	return fmt.Sprintf("FIRING:%d", it.Firing)
}

// Urgency ranks the line for the digest's colour: 3 for a firing
// critical or error group, 2 warning, 1 any other firing group, 0 when
// nothing fires.
func (it DigestItem) Urgency() int {
	if it.Firing == 0 || it.Kind == KindResolve || it.Kind == KindAcknowledged {
		return 0
	}
	switch it.Severity {
	case "critical", "error":
		return 3
	case "warning":
		return 2
	}
	return 1
}

// DigestHeadline counts what a digest covers, in plain text: "12
// incidents changed: 7 firing, 4 resolved, 1 acknowledged".
func DigestHeadline(ns []*Notification) string {
	incidents := map[string]bool{}
	counts := map[string]int{}
	for _, n := range ns {
		incidents[n.IncidentKey] = true
		switch it := NewDigestItem(n); {
		case it.Kind == KindEscalate:
			counts["escalated"]++
		case it.Kind == KindAcknowledged:
			counts["acknowledged"]++
		case it.Status() == "RESOLVED":
			counts["resolved"]++
		default:
			counts["firing"]++
		}
	}
	var parts []string
	for _, word := range []string{"firing", "escalated", "acknowledged", "resolved"} {
		if counts[word] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[word], word))
		}
	}
	what := "incidents changed"
	if len(incidents) == 1 {
		what = "incident changed"
	}
	return fmt.Sprintf("%d %s: %s", len(incidents), what, strings.Join(parts, ", "))
}

// ByIncident orders a digest's notifications for reading: each
// incident's together, in order, incidents by their first notification.
func ByIncident(ns []*Notification) []*Notification {
	first := map[string]int{}
	for i, n := range ns {
		if _, ok := first[n.IncidentKey]; !ok {
			first[n.IncidentKey] = i
		}
	}
	out := slices.Clone(ns)
	slices.SortStableFunc(out, func(a, b *Notification) int { return first[a.IncidentKey] - first[b.IncidentKey] })
	return out
}

// DigestLine is one notification's line in a digest: its head and tail are
// kept whole, its summary is cut to what the digest has room for.
type DigestLine struct {
	Head, Summary, Tail string
	Urgency             int
}

// render is the line with the summary cut to at most max runes, escaped.
func (l DigestLine) render(max int, escape func(string) string) string {
	out := l.Head
	if s, _ := Truncate(l.Summary, max); s != "" {
		out += ": " + escape(s)
	}
	return out + l.Tail
}

// DigestBody is the lines of a digest's notifications in reading order
// (ByIncident), with the longest summary length, common to all lines, at
// which they fit the digest's text.
type DigestBody struct {
	Ordered []*Notification
	// Lines are the lines of Ordered, in its order.
	Lines []DigestLine
	// Summary is that length: -1 when the lines are past the text's
	// limit even without their summaries.
	Summary int
	// Urgency is the most urgent line's.
	Urgency int
	escape  func(string) string
}

// FitDigest lays out the lines of covered (one each in lines): one line
// of text each, separated by newlines, within maxText runes in all, each
// summary at most maxSummary runes and escaped by escape.
func FitDigest(covered []*Notification, lines map[*Notification]DigestLine, escape func(string) string, maxSummary, maxText int) DigestBody {
	b := DigestBody{Ordered: ByIncident(covered), escape: escape}
	for _, n := range b.Ordered {
		b.Lines = append(b.Lines, lines[n])
		b.Urgency = max(b.Urgency, lines[n].Urgency)
	}
	size := func(max int) int {
		total := 0
		for _, line := range b.Render(max) {
			total += utf8.RuneCountInString(line) + 1
		}
		return total
	}
	b.Summary = sort.Search(maxSummary+1, func(max int) bool { return size(max) > maxText }) - 1
	return b
}

// Render is the lines with their summaries cut to at most max runes.
func (b DigestBody) Render(max int) []string {
	out := make([]string, len(b.Lines))
	for i, l := range b.Lines {
		out[i] = l.render(max, b.escape)
	}
	return out
}

// Latest is when the newest of the digest's notifications was accepted.
func (b DigestBody) Latest() time.Time {
	var t time.Time
	for _, n := range b.Ordered {
		if n.CreatedAt.After(t) {
			t = n.CreatedAt
		}
	}
	return t
}

package escalation

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
)

// TimedEvent is an event at a point of a simulated timeline.
type TimedEvent struct {
	At    time.Time
	Event Event
}

// Simulate runs an incident that starts at start under policy p through
// events, ticking whenever a page falls due, until until. It returns every
// page, with its recipients resolved at its due time. The incident starts
// with no known alerts: an Alerts event at start records them. Events
// before start count as at start; events after until are dropped.
func Simulate(p *Policy, r Resolver, u Users, start time.Time, events []TimedEvent, until time.Time) []Page {
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b TimedEvent) int { return a.At.Compare(b.At) })
	s, pages := Start(p, start, nil)
	for _, e := range events {
		if e.At.After(until) {
			break
		}
		at := e.At
		if at.Before(start) {
			at = start
		}
		var more []Page
		s, more = tickUntil(s, p, at)
		pages = append(pages, more...)
		s, more = s.On(e.Event, p, at)
		pages = append(pages, more...)
	}
	_, more := tickUntil(s, p, until)
	pages = append(pages, more...)
	for i := range pages {
		pages[i].AddRecipients(r, u)
	}
	return pages
}

// tickUntil ticks at every due time up to and including t, as the
// receiver's timer would.
func tickUntil(s State, p *Policy, t time.Time) (State, []Page) {
	var pages []Page
	for {
		next, ok := s.Next()
		if !ok || next.After(t) {
			return s, pages
		}
		var more []Page
		s, more = s.On(Tick{}, p, next)
		if len(more) == 0 {
			return s, pages
		}
		pages = append(pages, more...)
	}
}

// Timeline writes pages as a table, one line a page: the time since start,
// the due time in start's location, the kind, loop and level, and whom the
// page reaches.
func Timeline(start time.Time, pages []Page) string {
	var b strings.Builder
	for _, p := range pages {
		fmt.Fprintf(&b, "%-9s  %-24s  %-12s  loop %d level %d  %s\n",
			offset(p.Due.Sub(start)), p.Due.In(start.Location()).Format("2006-01-02 15:04:05 MST"),
			p.Kind, p.Loop, p.Level, p.describe())
	}
	return b.String()
}

// describe says whom the page reaches.
func (p Page) describe() string {
	if p.Kind == PageAcknowledged {
		return "by " + p.By
	}
	var parts []string
	if len(p.Fingerprints) > 0 {
		parts = append(parts, "new alerts "+strings.Join(p.Fingerprints, ","))
	}
	targets := make([]string, len(p.Targets))
	for i, t := range p.Targets {
		targets[i] = t.String()
	}
	parts = append(parts, "targets "+strings.Join(targets, ", "))
	type list struct {
		name string
		ids  []string
	}
	lists := []list{{"users", p.Users}, {"nobody on call for", p.unredirected()}}
	for _, in := range integrations.Chats() {
		m := p.Mentions[in.Name]
		lists = append(lists, list{in.Name, in.Chat.Mentions(m.Users, m.Groups)})
	}
	for _, list := range lists {
		if len(list.ids) > 0 {
			parts = append(parts, list.name+" "+strings.Join(list.ids, " "))
		}
	}
	for _, d := range p.Redirects {
		parts = append(parts, d.String())
	}
	return strings.Join(parts, "; ")
}

// unredirected are the uncovered schedules that no fallback replaced;
// the redirects say the others.
func (p Page) unredirected() []string {
	var out []string
	for _, s := range p.Uncovered {
		if !slices.ContainsFunc(p.Redirects, func(d Redirect) bool { return d.Schedule == s }) {
			out = append(out, s)
		}
	}
	return out
}

// offset formats d as +h:mm:ss.
func offset(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	return fmt.Sprintf("%s%d:%02d:%02d", sign, h, m, s)
}

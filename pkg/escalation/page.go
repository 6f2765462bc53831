package escalation

import (
	"slices"
	"time"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
)

// PageKind says why a page is sent.
type PageKind string

// The kinds of page.
const (
	// PageEscalate: a level's time came without an acknowledgement.
	PageEscalate PageKind = "escalate"
	// PageRepage: the acknowledgement timed out, or was taken back, while
	// the incident still fires; the current level is paged again.
	PageRepage PageKind = "repage"
	// PageAcknowledged tells the channels who acknowledged. It mentions
	// nobody.
	PageAcknowledged PageKind = "acknowledged"
	// PageNewAlerts: alerts joined an acknowledged incident; the current
	// level is paged again.
	PageNewAlerts PageKind = "new-alerts"
)

// Page is one message to send for an incident's escalation.
type Page struct {
	// Level is the level paged, from 1; for PageAcknowledged the level
	// reached (0 when none had been paged).
	Level int `json:"level"`
	// Loop is the run through the levels, from 1.
	Loop    int      `json:"loop"`
	Kind    PageKind `json:"kind"`
	Targets []Target `json:"targets,omitempty"`
	// Due is when the page fell due. A page sent late, after a restart,
	// keeps its due time.
	Due time.Time `json:"due"`
	// By is who acknowledged, for PageAcknowledged.
	By string `json:"by,omitempty"`
	// Fingerprints are the alerts that joined, for PageNewAlerts.
	Fingerprints []string `json:"fingerprints,omitempty"`
	// Fallback is the policy's fallback: paged instead of a target
	// schedule with nobody on call at Due and no fallback of its own.
	Fallback *Target `json:"fallback,omitempty"`

	// Users, Mentions and Uncovered are filled by AddRecipients.

	// Users are the people paged: named users and the schedules' on-call
	// users at Due, each once.
	Users []string `json:"users,omitempty"`
	// Mentions are the chat IDs of the users and groups paged, by
	// integration name.
	Mentions map[string]Mentions `json:"mentions,omitempty"`
	// Uncovered are the target schedules, and fallback schedules, with
	// nobody on call at Due.
	Uncovered []string `json:"uncovered,omitempty"`
	// Redirects are the uncovered target schedules whose fallback was
	// paged instead.
	Redirects []Redirect `json:"redirects,omitempty"`
}

// Redirect says that a schedule with nobody on call was replaced by its
// fallback, or the policy's.
type Redirect struct {
	Schedule string `json:"schedule"`
	To       Target `json:"to"`
}

// String is "nobody on call for primary; paging user carol instead".
func (r Redirect) String() string { return r.notify().String() }

func (r Redirect) notify() notify.Redirect {
	return notify.Redirect{Schedule: r.Schedule, To: r.To.String()}
}

// NotifyRedirects are the page's redirects as notify.Notification takes
// them; nil without any.
func (p *Page) NotifyRedirects() []notify.Redirect {
	var out []notify.Redirect
	for _, d := range p.Redirects {
		out = append(out, d.notify())
	}
	return out
}

// Fallbacks is a Resolver that also knows schedules' own fallbacks, which
// win over the policy's; receiverconfig.Roster is one.
type Fallbacks interface {
	Fallback(schedule string) (Target, bool)
}

// Mentions are the IDs of the users and groups a page mentions on one
// chat integration, each once.
type Mentions struct {
	Users  []string `json:"users,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

// Mentioner lists users' and groups' IDs as a chat channel's
// notifications take them; notify.Chat is one.
type Mentioner interface {
	Mentions(users, groups []string) []string
}

// MentionsOn lists the page's mentions on the chat integration named
// integration as chat takes them in notify.Notification.Mentions.
func (p *Page) MentionsOn(integration string, chat Mentioner) []string {
	m := p.Mentions[integration]
	return chat.Mentions(m.Users, m.Groups)
}

// Resolver says who is on call for a schedule at a time.
type Resolver interface {
	OnCall(schedule string, at time.Time) (user string, ok bool)
}

// Users looks up a user's chat IDs, by integration name.
type Users interface {
	ChatIDs(user string) (ids map[string]string, ok bool)
}

// AddRecipients resolves the page's targets at its due time: schedules to
// their on-call user through r, users to their chat IDs through u. Either
// may be nil.
//
// A schedule with nobody on call at Due is replaced by its fallback, which
// r knows if it is a Fallbacks, else by the policy's, p.Fallback; the
// replacement is recorded in p.Redirects. A fallback is followed one hop
// only: a fallback schedule with nobody on call pages nobody, so
// fallbacks never loop.
func (p *Page) AddRecipients(r Resolver, u Users) {
	p.Users, p.Mentions, p.Uncovered, p.Redirects = nil, nil, nil, nil
	for _, t := range p.Targets {
		if p.add(t, r, u) {
			continue
		}
		fb, ok := p.fallback(t.Schedule, r)
		if !ok || slices.ContainsFunc(p.Redirects, func(d Redirect) bool { return d.Schedule == t.Schedule }) {
			continue
		}
		p.Redirects = append(p.Redirects, Redirect{Schedule: t.Schedule, To: fb})
		p.add(fb, r, u)
	}
}

// add pages one target; false for a schedule with nobody on call at Due,
// which it records in p.Uncovered.
func (p *Page) add(t Target, r Resolver, u Users) bool {
	switch {
	case t.Schedule != "":
		user, ok := "", false
		if r != nil {
			user, ok = r.OnCall(t.Schedule, p.Due)
		}
		if !ok || user == "" {
			p.Uncovered = appendNew(p.Uncovered, t.Schedule)
			return false
		}
		p.addUser(user, u)
	case t.User != "":
		p.addUser(t.User, u)
	case t.Group.ID != "":
		p.mention(t.Group.Integration, func(m *Mentions) { m.Groups = appendNew(m.Groups, t.Group.ID) })
	}
	return true
}

// fallback is the schedule's own fallback, else the policy's.
func (p *Page) fallback(schedule string, r Resolver) (Target, bool) {
	if f, ok := r.(Fallbacks); ok {
		if t, ok := f.Fallback(schedule); ok {
			return t, true
		}
	}
	if p.Fallback != nil {
		return *p.Fallback, true
	}
	return Target{}, false
}

func (p *Page) addUser(user string, u Users) {
	if slices.Contains(p.Users, user) {
		return
	}
	p.Users = append(p.Users, user)
	if u == nil {
		return
	}
	ids, _ := u.ChatIDs(user)
	for _, in := range integrations.Chats() {
		if id := ids[in.Name]; id != "" {
			p.mention(in.Name, func(m *Mentions) { m.Users = appendNew(m.Users, id) })
		}
	}
}

// mention changes the page's mentions on integration with add.
func (p *Page) mention(integration string, add func(*Mentions)) {
	if p.Mentions == nil {
		p.Mentions = map[string]Mentions{}
	}
	m := p.Mentions[integration]
	add(&m)
	p.Mentions[integration] = m
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

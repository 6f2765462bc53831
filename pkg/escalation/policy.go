// Package escalation is klaxon-receiver's escalation policies and the
// incident state machine that follows them: who is paged, when, and what
// acknowledgement, new alerts and resolution change. Everything here is a
// pure function of the time passed in; the receiver stores State in a row
// and calls On when an event arrives or when State.Next comes due.
package escalation

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// Policies is the receiver's escalation_policies list.
type Policies []Policy

// Policy is one named escalation policy: ordered levels, each paged when
// its delay has passed without an acknowledgement.
type Policy struct {
	Name string `yaml:"name"`
	// Repeat is how many more times to run through all levels after the
	// last one.
	Repeat int `yaml:"repeat"`
	// LoopAfter is the time from the start of one loop to the start of
	// the next. It defaults to the last level's delay plus the wait before
	// the last level, so that the last level waits as long as the one
	// before it did.
	LoopAfter time.Duration `yaml:"loop_after"`
	// AckTimeout re-pages an incident that is still firing this long after
	// it was acknowledged; 0 never does.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// Fallback, when set, is paged instead of a level's schedule that has
	// nobody on call at the page's due time and no fallback of its own.
	Fallback *Target `yaml:"fallback"`
	Levels   []Level `yaml:"levels"`
}

// Level is one step of a policy.
type Level struct {
	// Delay is measured from the start of the incident, or of the loop.
	Delay   time.Duration `yaml:"delay"`
	Targets []Target      `yaml:"targets"`
}

// Target is whom a level pages. Exactly one field is set.
type Target struct {
	// Schedule pages whoever is on call for the schedule when the page is
	// due.
	Schedule string `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	// User pages a user by name.
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// Group mentions a group of people on a chat integration, such as a
	// user group or a role. Its YAML key is the integration's
	// notify.ChatIDs.GroupKey.
	Group Group `yaml:"-" json:"group,omitzero"`
}

// Group is a group of people on a chat integration.
type Group struct {
	// Integration is the integration's name.
	Integration string `json:"integration"`
	// ID is the group's ID there.
	ID string `json:"id"`
}

// The targets that Check asks about, by their keys.
const (
	TargetSchedule = "schedule"
	TargetUser     = "user"
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// UnmarshalYAML decodes the policies and checks that names are unique.
func (ps *Policies) UnmarshalYAML(node *yaml.Node) error {
	var list []Policy
	if err := yamlconf.DecodeNode(node, &list); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, p := range list {
		if seen[p.Name] {
			return yamlconf.Errorf(node.Content[i], "escalation policy name %q is used twice", p.Name)
		}
		seen[p.Name] = true
	}
	*ps = list
	return nil
}

// Get returns the policy named name.
func (ps Policies) Get(name string) (*Policy, bool) {
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i], true
		}
	}
	return nil, false
}

// Check reports every schedule and user that a policy names and that known
// says does not exist. kind is TargetSchedule or TargetUser.
func (ps Policies) Check(known func(kind, name string) bool) error {
	var errs []error
	for i := range ps {
		errs = append(errs, ps[i].Check(known))
	}
	return errors.Join(errs...)
}

// Check reports every schedule and user that the policy names and that
// known says does not exist.
func (p *Policy) Check(known func(kind, name string) bool) error {
	var errs []error
	for i, l := range p.Levels {
		for _, t := range l.Targets {
			kind, name := t.kind()
			if kind != TargetSchedule && kind != TargetUser {
				continue
			}
			if !known(kind, name) {
				errs = append(errs, fmt.Errorf("escalation policy %q, level %d: unknown %s %q", p.Name, i+1, kind, name))
			}
		}
	}
	if p.Fallback != nil {
		kind, name := p.Fallback.kind()
		if (kind == TargetSchedule || kind == TargetUser) && !known(kind, name) {
			errs = append(errs, fmt.Errorf("escalation policy %q, fallback: unknown %s %q", p.Name, kind, name))
		}
	}
	return errors.Join(errs...)
}

// UnmarshalYAML validates one policy.
func (p *Policy) UnmarshalYAML(node *yaml.Node) error {
	*p = Policy{}
	type plain Policy
	if err := yamlconf.DecodeNode(node, (*plain)(p)); err != nil {
		return err
	}
	if !nameRE.MatchString(p.Name) {
		return yamlconf.Errorf(node, "escalation policy name %q must be letters, digits, '_', '.' or '-'", p.Name)
	}
	if p.Repeat < 0 {
		return yamlconf.Errorf(node, "escalation policy %q: repeat must be 0 or more, not %d", p.Name, p.Repeat)
	}
	if p.AckTimeout < 0 {
		return yamlconf.Errorf(node, "escalation policy %q: ack_timeout must be 0 or more, not %s", p.Name, p.AckTimeout)
	}
	if len(p.Levels) == 0 {
		return yamlconf.Errorf(node, "escalation policy %q needs at least one level", p.Name)
	}
	if err := p.checkLevels(node); err != nil {
		return err
	}
	return p.checkLoop(node)
}

// checkLevels wants delays that start at 0 or later and strictly increase,
// and targets on every level.
func (p *Policy) checkLevels(node *yaml.Node) error {
	for i, l := range p.Levels {
		at := yamlconf.ItemNode(node, "levels", i)
		switch {
		case i == 0 && l.Delay < 0:
			return yamlconf.Errorf(at, "escalation policy %q: level 1 delay must be 0 or more, not %s", p.Name, l.Delay)
		case i > 0 && l.Delay <= p.Levels[i-1].Delay:
			return yamlconf.Errorf(at, "escalation policy %q: level %d delay (%s) must be later than level %d delay (%s)",
				p.Name, i+1, l.Delay, i, p.Levels[i-1].Delay)
		case len(l.Targets) == 0:
			return yamlconf.Errorf(at, "escalation policy %q: level %d has no targets", p.Name, i+1)
		}
	}
	return nil
}

// checkLoop wants a loop longer than the last level's delay, so that a
// new loop never starts before the last level of the previous one.
func (p *Policy) checkLoop(node *yaml.Node) error {
	last := p.Levels[len(p.Levels)-1].Delay
	switch {
	case p.LoopAfter < 0:
		return yamlconf.Errorf(node, "escalation policy %q: loop_after must be 0 or more, not %s", p.Name, p.LoopAfter)
	case p.LoopAfter > 0 && p.LoopAfter <= last:
		return yamlconf.Errorf(node, "escalation policy %q: loop_after (%s) must be longer than the last level's delay (%s)",
			p.Name, p.LoopAfter, last)
	case p.Repeat > 0 && p.loopLength() <= 0:
		return yamlconf.Errorf(node, "escalation policy %q: repeat needs loop_after when the only level has delay 0", p.Name)
	}
	return nil
}

// loopLength is the time from the start of a loop to the start of the
// next.
func (p *Policy) loopLength() time.Duration {
	if p.LoopAfter > 0 {
		return p.LoopAfter
	}
	n := len(p.Levels)
	if n == 0 {
		return 0
	}
	last, before := p.Levels[n-1].Delay, time.Duration(0)
	if n > 1 {
		before = p.Levels[n-2].Delay
	}
	return last + (last - before)
}

// UnmarshalYAML validates one target. Which group keys there are, and
// what a group's ID looks like, the registry of integrations says.
func (t *Target) UnmarshalYAML(node *yaml.Node) error {
	*t = Target{}
	type plain Target
	groups, err := integrations.DecodeChatIDs(node, (*plain)(t), groupKey)
	if err != nil {
		return err
	}
	if n := t.fields() + len(groups); n != 1 {
		keys := append([]string{TargetSchedule, TargetUser}, integrations.GroupKeys()...)
		return yamlconf.Errorf(node, "a target needs exactly one of %s (it has %d)", integrations.OneOf(keys), n)
	}
	for name, id := range groups {
		in, _ := integrations.Get(name)
		if err := in.Chat.CheckGroup(id); err != nil {
			return yamlconf.Errorf(node, "%v", err)
		}
		t.Group = Group{Integration: name, ID: id}
	}
	return nil
}

func groupKey(c *notify.ChatIDs) string { return c.GroupKey }

// fields counts the schedule and the user set.
func (t Target) fields() int {
	n := 0
	for _, v := range []string{t.Schedule, t.User} {
		if v != "" {
			n++
		}
	}
	return n
}

// kind returns the target's kind, as its YAML key, and its value.
func (t Target) kind() (kind, name string) {
	switch {
	case t.Schedule != "":
		return TargetSchedule, t.Schedule
	case t.User != "":
		return TargetUser, t.User
	case t.Group.ID != "":
		if in, ok := integrations.Get(t.Group.Integration); ok && in.Chat != nil {
			return in.Chat.GroupKey, t.Group.ID
		}
		return t.Group.Integration, t.Group.ID
	}
	return "", ""
}

// String names the target as "schedule primary" or "user cto".
func (t Target) String() string {
	kind, name := t.kind()
	return kind + " " + name
}

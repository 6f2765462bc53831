// Package oncall knows who is on call: users, and schedules made of
// rotation layers, restrictions and overrides.
//
// Everything here is a pure function of the time passed in; nothing reads
// the clock. Rotations are computed in the schedule's time zone with
// calendar arithmetic, so a daily 09:00 handoff stays at 09:00 local time
// across daylight saving changes, while hourly shifts keep their exact
// length.
package oncall

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	// Zones must load on machines without a time zone database.
	_ "time/tzdata"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/escalation"
)

// User is a person who can be on call.
type User struct {
	Name string
	// ChatIDs mention the user on chat integrations, by integration name.
	ChatIDs map[string]string
	// Location is the user's own time zone, for display.
	Location *time.Location
}

// Directory holds the users by name.
type Directory struct {
	users []*User
	index map[string]*User
}

// User is the user with the given name.
func (d *Directory) User(name string) (*User, bool) {
	u, ok := d.index[name]
	return u, ok
}

// Users lists the users in config order.
func (d *Directory) Users() []*User { return slices.Clone(d.users) }

// Schedule says who is on call at any time.
type Schedule struct {
	name      string
	loc       *time.Location
	layers    []*layer // lowest first
	overrides []override
	fallback  *escalation.Target
}

// override is a compiled OverrideConfig.
type override struct {
	user        string
	from, until time.Time
}

// Shift is an interval [From, Until) with one user on call; User is empty
// in a gap, when nobody is.
type Shift struct {
	User  string
	From  time.Time
	Until time.Time
}

// Handoff is a change of who is on call. From or To is empty at the start
// or the end of a gap.
type Handoff struct {
	At       time.Time
	From, To string
}

// Name is the schedule's name.
func (s *Schedule) Name() string { return s.name }

// Location is the zone the schedule's handoffs and restrictions are in.
func (s *Schedule) Location() *time.Location { return s.loc }

// Compile validates users and schedules together and builds them. Its
// errors carry the config file's line numbers the way config.Errorf's do,
// so a config type that calls Compile from its UnmarshalYAML gets errors
// such as "receiver.yml:12: reason"; all problems are reported at once.
func Compile(users []UserConfig, schedules []ScheduleConfig) (*Directory, map[string]*Schedule, error) {
	dir, errs := compileUsers(users)
	out := map[string]*Schedule{}
	for i := range schedules {
		sc := &schedules[i]
		if _, dup := out[sc.Name]; dup {
			errs = append(errs, lineError(sc.line, fmt.Errorf("schedule name %q is used twice", sc.Name)))
			continue
		}
		s, serrs := compileSchedule(sc, dir)
		errs = append(errs, serrs...)
		if s != nil {
			out[sc.Name] = s
		}
	}
	for i := range schedules {
		if err := checkFallback(&schedules[i], dir, schedules); err != nil {
			errs = append(errs, lineError(schedules[i].fallbackLine, err))
		}
	}
	if err := joinErrors(errs); err != nil {
		return nil, nil, err
	}
	return dir, out, nil
}

func compileUsers(users []UserConfig) (*Directory, []error) {
	dir := &Directory{index: map[string]*User{}}
	var errs []error
	for i := range users {
		uc := &users[i]
		u, err := uc.check()
		switch {
		case err != nil:
			errs = append(errs, lineError(uc.line, err))
		case dir.index[u.Name] != nil:
			errs = append(errs, lineError(uc.line, fmt.Errorf("user name %q is used twice", u.Name)))
		default:
			dir.users = append(dir.users, u)
			dir.index[u.Name] = u
		}
	}
	return dir, errs
}

// compileSchedule builds one schedule; it returns nil with errors.
func compileSchedule(sc *ScheduleConfig, dir *Directory) (*Schedule, []error) {
	if err := sc.checkOwn(); err != nil {
		return nil, []error{lineError(sc.line, err)}
	}
	loc, _ := loadZone(sc.TimeZone)
	s := &Schedule{name: sc.Name, loc: loc, fallback: sc.Fallback}
	var errs []error
	seen := map[string]bool{}
	for i := range sc.Layers {
		lc := sc.Layers[i]
		if lc.Name == "" {
			lc.Name = fmt.Sprintf("layer-%d", i+1)
		}
		if seen[lc.Name] {
			errs = append(errs, lineError(lc.line, fmt.Errorf("schedule %q: layer name %q is used twice", sc.Name, lc.Name)))
			continue
		}
		seen[lc.Name] = true
		l, err := lc.compile(loc)
		if err != nil {
			errs = append(errs, lineError(lc.line, err))
			continue
		}
		errs = append(errs, checkParticipants(sc.Name, &lc, dir)...)
		s.layers = append(s.layers, l)
	}
	for _, oc := range sc.Overrides {
		o, err := oc.compile()
		if err == nil {
			err = knownUser(dir, o.user, fmt.Sprintf("override in schedule %q", sc.Name))
		}
		if err != nil {
			errs = append(errs, lineError(oc.line, err))
			continue
		}
		s.overrides = append(s.overrides, o)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// checkFallback wants the schedule's fallback, if any, to name a user or
// another schedule that exists.
func checkFallback(sc *ScheduleConfig, dir *Directory, schedules []ScheduleConfig) error {
	f := sc.Fallback
	switch {
	case f == nil:
		return nil
	case f.User != "":
		return knownUser(dir, f.User, fmt.Sprintf("fallback of schedule %q", sc.Name))
	case f.Schedule == sc.Name:
		return fmt.Errorf("schedule %q: fallback names the schedule itself", sc.Name)
	case f.Schedule != "" && !slices.ContainsFunc(schedules, func(o ScheduleConfig) bool { return o.Name == f.Schedule }):
		return fmt.Errorf("schedule %q: fallback names schedule %q, which is not defined", sc.Name, f.Schedule)
	}
	return nil
}

// Fallback is the target paged instead of the schedule when nobody is on
// call; false when it has none.
func (s *Schedule) Fallback() (escalation.Target, bool) {
	if s.fallback == nil {
		return escalation.Target{}, false
	}
	return *s.fallback, true
}

// checkParticipants reports participants that are not users.
func checkParticipants(schedule string, lc *LayerConfig, dir *Directory) []error {
	var errs []error
	for i, p := range lc.Participants {
		line := lc.line
		if i < len(lc.participantLines) {
			line = lc.participantLines[i]
		}
		if err := knownUser(dir, p, fmt.Sprintf("layer %q of schedule %q", lc.Name, schedule)); err != nil {
			errs = append(errs, lineError(line, err))
		}
	}
	return errs
}

func knownUser(dir *Directory, name, where string) error {
	if _, ok := dir.User(name); ok {
		return nil
	}
	names := make([]string, len(dir.users))
	for i, u := range dir.users {
		names[i] = u.Name
	}
	return fmt.Errorf("%s names user %q, which is not defined (users: %s)", where, name, strings.Join(names, ", "))
}

// joinErrors merges errors into one: a *yaml.TypeError listing every
// problem when any carries a line, so that config.Decode locates each of
// them, or else a plain joined error.
func joinErrors(errs []error) error {
	var msgs []string
	located := false
	for _, err := range errs {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs = append(msgs, te.Errors...)
			located = true
			continue
		}
		msgs = append(msgs, err.Error())
	}
	switch {
	case len(errs) == 0:
		return nil
	case located:
		return &yaml.TypeError{Errors: msgs}
	default:
		return errors.Join(errs...)
	}
}

// OnCall is who is on call at the instant at: the last override that
// covers it, else the highest layer that has someone on call.
func (s *Schedule) OnCall(at time.Time) (user string, ok bool) {
	for i := len(s.overrides) - 1; i >= 0; i-- {
		o := s.overrides[i]
		if !at.Before(o.from) && at.Before(o.until) {
			return o.user, true
		}
	}
	for i := len(s.layers) - 1; i >= 0; i-- {
		if u, ok := s.layers[i].onCall(at); ok {
			return u, true
		}
	}
	return "", false
}

// Shifts covers [from, until) with who is on call, in order, with
// neighbouring intervals of the same user merged and gaps as shifts with
// an empty User. Times are in the schedule's zone.
func (s *Schedule) Shifts(from, until time.Time) []Shift {
	if !from.Before(until) {
		return nil
	}
	points := append([]time.Time{from}, s.changes(from, until)...)
	slices.SortFunc(points, func(a, b time.Time) int { return a.Compare(b) })
	points = slices.CompactFunc(points, func(a, b time.Time) bool { return a.Equal(b) })
	var out []Shift
	for i, p := range points {
		end := until
		if i+1 < len(points) {
			end = points[i+1]
		}
		user, _ := s.OnCall(p)
		if n := len(out); n > 0 && out[n-1].User == user {
			out[n-1].Until = end.In(s.loc)
			continue
		}
		out = append(out, Shift{User: user, From: p.In(s.loc), Until: end.In(s.loc)})
	}
	return out
}

// changes lists the instants in (from, until) at which who is on call may
// change.
func (s *Schedule) changes(from, until time.Time) []time.Time {
	var out []time.Time
	for _, l := range s.layers {
		out = append(out, l.changes(from, until)...)
	}
	for _, o := range s.overrides {
		out = appendInside(out, from, until, o.from, o.until)
	}
	return out
}

// Gaps lists the intervals within [from, until) when nobody is on call.
func (s *Schedule) Gaps(from, until time.Time) []Shift {
	var out []Shift
	for _, sh := range s.Shifts(from, until) {
		if sh.User == "" {
			out = append(out, sh)
		}
	}
	return out
}

// Handoff search: NextHandoffs looks ahead handoffStep at a time and gives
// up after handoffHorizon without a change. The longest shift is a month,
// so a schedule that changes at all changes well within it; an override
// further ahead than that with nothing in between is not found.
const (
	handoffStep    = 31 * 24 * time.Hour
	handoffHorizon = 2 * 366 * 24 * time.Hour
)

// NextHandoffs lists the next n changes of who is on call strictly after
// at, including the starts and ends of gaps. It returns fewer when the
// schedule stops changing (see handoffHorizon).
func (s *Schedule) NextHandoffs(at time.Time, n int) []Handoff {
	var out []Handoff
	current, _ := s.OnCall(at)
	lastChange := at
	for from := at; len(out) < n && from.Sub(lastChange) < handoffHorizon; from = from.Add(handoffStep) {
		for _, sh := range s.Shifts(from, from.Add(handoffStep)) {
			if sh.User == current || len(out) == n {
				continue
			}
			out = append(out, Handoff{At: sh.From, From: current, To: sh.User})
			current, lastChange = sh.User, sh.From
		}
	}
	return out
}

package oncall

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// UserConfig is one entry of the users list.
type UserConfig struct {
	// Name is how schedules, overrides and escalation policies refer to
	// the user. Required and unique.
	Name string `yaml:"name"`
	// ChatIDs are the IDs that mention the user on chat integrations, by
	// integration name. Each has the YAML key its integration's
	// notify.ChatIDs.UserKey names, such as slack_id.
	ChatIDs map[string]string `yaml:"-"`
	// TimeZone is the IANA zone the user lives in, for display. Default
	// UTC.
	TimeZone string `yaml:"time_zone"`

	line int
}

// ScheduleConfig is one entry of the schedules list.
type ScheduleConfig struct {
	Name string `yaml:"name"`
	// TimeZone is the IANA zone that handoff times, start dates and
	// restrictions are in. Default UTC.
	TimeZone string `yaml:"time_zone"`
	// Layers are listed lowest first: a later layer wins wherever it has
	// someone on call.
	Layers []LayerConfig `yaml:"layers"`
	// Overrides beat every layer; a later override beats an earlier one.
	Overrides []OverrideConfig `yaml:"overrides"`
	// Fallback, when set, is paged instead of the schedule when an
	// escalation level pages it and nobody is on call. It is written as
	// an escalation level's target: a user, another schedule or a chat
	// group. A fallback schedule is followed one hop only: if nobody is
	// on call for it either, nobody is paged.
	Fallback *escalation.Target `yaml:"fallback"`

	line, fallbackLine int
}

// LayerConfig is one rotation of a schedule.
type LayerConfig struct {
	// Name defaults to "layer N", N counting from 1.
	Name string `yaml:"name"`
	// Rotation is the shift length: daily, weekly, monthly or hourly.
	Rotation string `yaml:"rotation"`
	// ShiftHours is the length of an hourly shift; only for hourly.
	ShiftHours int `yaml:"shift_hours"`
	// Handoff is the local time of day, HH:MM, at which shifts change.
	// Default 00:00.
	Handoff string `yaml:"handoff"`
	// Start is the local date, YYYY-MM-DD, on which the first
	// participant's shift starts at Handoff. Default DefaultStart.
	Start string `yaml:"start"`
	// Participants take shifts in this order, then wrap around.
	Participants []string `yaml:"participants"`
	// Restrictions, if any, limit the layer to these windows.
	Restrictions []RestrictionConfig `yaml:"restrictions"`

	line             int
	participantLines []int
}

// RestrictionConfig is a weekly window in which a layer is on call.
type RestrictionConfig struct {
	// Days on which the window starts: mon, tue, wed, thu, fri, sat, sun.
	// Default every day.
	Days []string `yaml:"days"`
	// From and To are local times of day, HH:MM. A window that ends at or
	// before its start ends on the next day; From equal to To is a whole
	// day. Both default to 00:00.
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// OverrideConfig puts a user on call for a fixed interval.
type OverrideConfig struct {
	User string `yaml:"user"`
	// From and Until are RFC 3339 times; the override covers [From, Until).
	From  string `yaml:"from"`
	Until string `yaml:"until"`

	line int
}

// Rotation kinds.
const (
	RotationDaily   = "daily"
	RotationWeekly  = "weekly"
	RotationMonthly = "monthly"
	RotationHourly  = "hourly"
)

// DefaultStart is the start date of a layer that sets none. It is a
// Monday, so weekly shifts hand off on Mondays and monthly ones on the
// 1st.
const DefaultStart = "2024-01-01"

// DefaultHandoff is the handoff time of a layer that sets none.
const DefaultHandoff = "00:00"

var (
	nameRE  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	clockRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)
)

// weekdays maps the restriction day names to time.Weekday.
var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// UnmarshalYAML applies defaults and validates one user.
func (u *UserConfig) UnmarshalYAML(node *yaml.Node) error {
	*u = UserConfig{}
	type plain UserConfig
	ids, err := integrations.DecodeChatIDs(node, (*plain)(u), userKey)
	if err != nil {
		return err
	}
	u.ChatIDs, u.line = ids, node.Line
	if _, err := u.check(); err != nil {
		return yamlconf.Errorf(node, "%v", err)
	}
	return nil
}

// check validates the user and returns it compiled.
func (u *UserConfig) check() (*User, error) {
	if err := checkName("user", u.Name); err != nil {
		return nil, err
	}
	for _, in := range integrations.Chats() {
		if id, ok := u.ChatIDs[in.Name]; ok {
			if err := in.Chat.CheckUser(id); err != nil {
				return nil, fmt.Errorf("user %q: %w", u.Name, err)
			}
		}
	}
	loc, err := loadZone(u.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", u.Name, err)
	}
	return &User{Name: u.Name, ChatIDs: u.ChatIDs, Location: loc}, nil
}

func userKey(c *notify.ChatIDs) string { return c.UserKey }

// UnmarshalYAML applies defaults and validates one schedule, its layers
// and its overrides. References to users are checked by Compile.
func (s *ScheduleConfig) UnmarshalYAML(node *yaml.Node) error {
	*s = ScheduleConfig{}
	type plain ScheduleConfig
	if err := yamlconf.DecodeNode(node, (*plain)(s)); err != nil {
		return err
	}
	s.line = node.Line
	if s.Fallback != nil {
		s.fallbackLine = yamlconf.ValueNode(node, "fallback").Line
	}
	if err := s.checkOwn(); err != nil {
		return yamlconf.Errorf(node, "%v", err)
	}
	for i := range s.Layers {
		if s.Layers[i].Name == "" {
			s.Layers[i].Name = fmt.Sprintf("layer-%d", i+1)
		}
	}
	seen := map[string]bool{}
	for _, l := range s.Layers {
		if seen[l.Name] {
			return yamlconf.Errorf(&yaml.Node{Line: l.line}, "schedule %q: layer name %q is used twice", s.Name, l.Name)
		}
		seen[l.Name] = true
	}
	return nil
}

// checkOwn validates the schedule's own fields.
func (s *ScheduleConfig) checkOwn() error {
	if err := checkName("schedule", s.Name); err != nil {
		return err
	}
	if _, err := loadZone(s.TimeZone); err != nil {
		return fmt.Errorf("schedule %q: %w", s.Name, err)
	}
	if len(s.Layers) == 0 && len(s.Overrides) == 0 {
		return fmt.Errorf("schedule %q needs at least one layer or override", s.Name)
	}
	return nil
}

// UnmarshalYAML applies defaults and validates one layer.
func (l *LayerConfig) UnmarshalYAML(node *yaml.Node) error {
	*l = LayerConfig{Handoff: DefaultHandoff, Start: DefaultStart}
	type plain LayerConfig
	if err := yamlconf.DecodeNode(node, (*plain)(l)); err != nil {
		return err
	}
	l.line = node.Line
	if p := valueNode(node, "participants"); p != nil && p.Kind == yaml.SequenceNode {
		for _, item := range p.Content {
			l.participantLines = append(l.participantLines, item.Line)
		}
	}
	if _, err := l.compile(nil); err != nil {
		return yamlconf.Errorf(node, "%v", err)
	}
	return nil
}

// layerName names the layer in errors, before its default name is set.
func (l *LayerConfig) layerName() string {
	if l.Name == "" {
		return "layer"
	}
	return fmt.Sprintf("layer %q", l.Name)
}

// compile validates the layer and builds its rotation in loc. With a nil
// loc it only validates.
func (l *LayerConfig) compile(loc *time.Location) (*layer, error) {
	name := l.layerName()
	if l.Name != "" && !nameRE.MatchString(l.Name) {
		return nil, fmt.Errorf("layer name %q must be letters, digits, '_', '.' or '-'", l.Name)
	}
	if err := l.checkRotation(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	handoff, err := parseClock(l.Handoff)
	if err != nil {
		return nil, fmt.Errorf("%s: handoff %w", name, err)
	}
	start, err := parseDate(l.Start)
	if err != nil {
		return nil, fmt.Errorf("%s: start %w", name, err)
	}
	if len(l.Participants) == 0 {
		return nil, fmt.Errorf("%s has no participants", name)
	}
	windows, err := compileRestrictions(l.Restrictions)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if loc == nil {
		return nil, nil
	}
	shift := time.Duration(l.ShiftHours) * time.Hour
	return newLayer(l.Name, l.Rotation, shift, start, handoff, loc, l.Participants, windows), nil
}

// checkRotation validates rotation and shift_hours together.
func (l *LayerConfig) checkRotation() error {
	switch l.Rotation {
	case RotationDaily, RotationWeekly, RotationMonthly:
		if l.ShiftHours != 0 {
			return fmt.Errorf("shift_hours is only for rotation hourly, not %s", l.Rotation)
		}
	case RotationHourly:
		if l.ShiftHours < 1 {
			return errors.New("rotation hourly needs shift_hours of 1 or more")
		}
	case "":
		return errors.New("rotation is required: daily, weekly, monthly or hourly")
	default:
		return fmt.Errorf("rotation %q must be daily, weekly, monthly or hourly", l.Rotation)
	}
	return nil
}

// compileRestrictions validates restrictions and turns them into windows.
func compileRestrictions(rs []RestrictionConfig) ([]window, error) {
	var out []window
	for _, r := range rs {
		from, err := parseClock(defaultClock(r.From))
		if err != nil {
			return nil, fmt.Errorf("restriction from %w", err)
		}
		to, err := parseClock(defaultClock(r.To))
		if err != nil {
			return nil, fmt.Errorf("restriction to %w", err)
		}
		days, err := parseDays(r.Days)
		if err != nil {
			return nil, err
		}
		out = append(out, window{days: days, from: from, to: to})
	}
	return out, nil
}

func defaultClock(s string) string {
	if s == "" {
		return "00:00"
	}
	return s
}

// parseDays turns day names into a set; no names is every day.
func parseDays(names []string) ([7]bool, error) {
	var days [7]bool
	if len(names) == 0 {
		return [7]bool{true, true, true, true, true, true, true}, nil
	}
	for _, n := range names {
		d, ok := weekdays[n]
		if !ok {
			return days, fmt.Errorf("restriction day %q must be one of mon, tue, wed, thu, fri, sat, sun", n)
		}
		days[d] = true
	}
	return days, nil
}

// UnmarshalYAML validates one override.
func (o *OverrideConfig) UnmarshalYAML(node *yaml.Node) error {
	*o = OverrideConfig{}
	type plain OverrideConfig
	if err := yamlconf.DecodeNode(node, (*plain)(o)); err != nil {
		return err
	}
	o.line = node.Line
	if _, err := o.compile(); err != nil {
		return yamlconf.Errorf(node, "%v", err)
	}
	return nil
}

// compile validates the override's own fields.
func (o *OverrideConfig) compile() (override, error) {
	if o.User == "" {
		return override{}, errors.New("override needs a user")
	}
	from, err := parseInstant(o.From)
	if err != nil {
		return override{}, fmt.Errorf("override for %q: from %w", o.User, err)
	}
	until, err := parseInstant(o.Until)
	if err != nil {
		return override{}, fmt.Errorf("override for %q: until %w", o.User, err)
	}
	if !until.After(from) {
		return override{}, fmt.Errorf("override for %q: until %s must be after from %s", o.User, o.Until, o.From)
	}
	return override{user: o.User, from: from, until: until}, nil
}

func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is required", what)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s name %q must be letters, digits, '_', '.' or '-'", what, name)
	}
	return nil
}

// loadZone loads an IANA time zone; empty is UTC. "Local" is refused so
// that a schedule means the same on every machine.
func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, errors.New(`time_zone "Local" depends on the machine; name an IANA zone such as Europe/London`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time_zone %q (want an IANA zone such as Europe/London)", name)
	}
	return loc, nil
}

// parseClock parses HH:MM into minutes after midnight.
func parseClock(s string) (int, error) {
	m := clockRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q must be a time of day as HH:MM, 00:00 to 23:59", s)
	}
	return (int(m[1][0]-'0')*10+int(m[1][1]-'0'))*60 + int(m[2][0]-'0')*10 + int(m[2][1]-'0'), nil
}

// parseDate parses a YYYY-MM-DD local date.
func parseDate(s string) (date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return date{}, fmt.Errorf("%q must be a date as YYYY-MM-DD", s)
	}
	return dateOf(t), nil
}

// parseInstant parses an RFC 3339 time.
func parseInstant(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("is required (an RFC 3339 time such as 2026-11-20T18:00:00Z)")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q must be an RFC 3339 time such as 2026-11-20T18:00:00Z", s)
	}
	return t, nil
}

// valueNode is the value of key in mapping node, or nil.
func valueNode(node *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return nil
}

// lineError is a validation error at a line of the config file, shaped
// like yamlconf.Errorf's so that yamlconf.Decode prefixes the file name. Line
// 0 (a config built in code) gives the bare reason.
func lineError(line int, err error) error {
	if line == 0 {
		return err
	}
	return yamlconf.Errorf(&yaml.Node{Line: line}, "%v", err)
}

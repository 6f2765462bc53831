package receiverconfig

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/klaxonhq/klaxon/pkg/acklink"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
	"github.com/klaxonhq/klaxon/pkg/oncall"
	"github.com/klaxonhq/klaxon/pkg/runbook"
)

// Runtime is a loaded config with what is built from it: its notifiers,
// its runbook resolver and its users and schedules. A reload replaces it
// whole.
type Runtime struct {
	Config   *Config
	Channels map[string]deliver.Channel
	Runbooks runbook.Resolver
	// Roster holds the compiled users and schedules and answers
	// escalation's questions about them.
	Roster *Roster
	// Now is the clock that on-call questions are asked at: mentions at
	// send time, the on-call API and metrics (default time.Now).
	Now    func() time.Time
	logger *slog.Logger
}

// Build makes a Runtime from a config: it renders templates and builds
// every channel's notifier, so that a config that cannot work is refused
// at load time.
func Build(cfg *Config, logger *slog.Logger) (*Runtime, error) {
	tmpl, err := notify.NewTemplate(cfg.Templates)
	if err != nil {
		return nil, err
	}
	base, err := cfg.RunbookBase()
	if err != nil {
		return nil, err
	}
	dir, schedules, err := oncall.Compile(cfg.Users, cfg.Schedules)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{
		Config: cfg, Channels: map[string]deliver.Channel{}, Runbooks: runbook.Resolver{Base: base},
		Roster: &Roster{Directory: dir, Schedules: schedules}, Now: time.Now, logger: logger,
	}
	client := &http.Client{Timeout: time.Minute, Transport: upstreamTransport()}
	for i := range cfg.Channels {
		ch := &cfg.Channels[i]
		n, limit, err := ch.Notifier(notify.Options{Template: tmpl, Client: client, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("channel %q: %w", ch.Name, err)
		}
		rt.Channels[ch.Name] = deliver.Channel{Notifier: n, Limit: limit, Integration: ch.Integration}
	}
	return rt, nil
}

// upstreamTransport keeps as many idle connections to an upstream as
// delivery workers may use at once; the default of two would make the
// others dial a new TLS connection for every message under load.
func upstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 2 * deliver.DefaultWorkers
	return t
}

// Load reads a config file, or the built-in default when path is "", and
// builds it.
func Load(path string, logger *slog.Logger) (*Runtime, error) {
	cfg, err := Read(path)
	if err != nil {
		return nil, err
	}
	return Build(cfg, logger)
}

// Read reads a config file, or the built-in config when path is "".
func Read(path string) (*Config, error) {
	if path == "" {
		return BuiltIn()
	}
	return LoadFile(path)
}

// On-call look-ahead.
const (
	// NextHandoffs is how many coming handoffs the oncall command and the
	// on-call API show per schedule.
	NextHandoffs = 3
	// GapHorizon is how far ahead klaxon_oncall_gap_seconds and
	// klaxon_oncall_gaps look for times with nobody on call.
	GapHorizon = 7 * 24 * time.Hour
)

// Roster answers escalation's questions from the compiled users and
// schedules: it is an escalation.Resolver and escalation.Users.
type Roster struct {
	Directory *oncall.Directory
	Schedules map[string]*oncall.Schedule
}

var (
	_ escalation.Resolver  = (*Roster)(nil)
	_ escalation.Users     = (*Roster)(nil)
	_ escalation.Fallbacks = (*Roster)(nil)
)

// Fallback is the named schedule's own fallback; false for an unknown
// schedule or one without.
func (r *Roster) Fallback(schedule string) (escalation.Target, bool) {
	s, ok := r.Schedules[schedule]
	if !ok {
		return escalation.Target{}, false
	}
	return s.Fallback()
}

// OnCall is who is on call for the named schedule at at; false for an
// unknown schedule or a gap.
func (r *Roster) OnCall(schedule string, at time.Time) (string, bool) {
	s, ok := r.Schedules[schedule]
	if !ok {
		return "", false
	}
	return s.OnCall(at)
}

// ChatIDs are the user's chat IDs, by integration name; false for an
// unknown user.
func (r *Roster) ChatIDs(user string) (map[string]string, bool) {
	u, ok := r.Directory.User(user)
	if !ok {
		return nil, false
	}
	return u.ChatIDs, true
}

// ScheduleStatus is who is on call for a schedule at a time, and the
// handoffs that follow.
type ScheduleStatus struct {
	Schedule string `json:"schedule"`
	TimeZone string `json:"time_zone"`
	// OnCall is nil when nobody is on call.
	OnCall       *OnCallUser `json:"on_call"`
	NextHandoffs []Handoff   `json:"next_handoffs"`
}

// OnCallUser is a user with their chat IDs, by integration name. In
// JSON each ID has the key of the users list, such as slack_id.
type OnCallUser struct {
	Name    string
	ChatIDs map[string]string
}

// MarshalJSON writes the name, then the chat IDs under their keys, in
// the order of the registry of integrations.
func (u OnCallUser) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(u.Name)
	if err != nil {
		return nil, err
	}
	b = append([]byte(`{"name":`), b...)
	for _, in := range integrations.Chats() {
		if id := u.ChatIDs[in.Name]; id != "" {
			field, err := json.Marshal(map[string]string{in.Chat.UserKey: id})
			if err != nil {
				return nil, err
			}
			b = append(append(b, ','), field[1:len(field)-1]...)
		}
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (u *OnCallUser) UnmarshalJSON(data []byte) error {
	var fields map[string]string
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	*u = OnCallUser{Name: fields["name"]}
	for _, in := range integrations.Chats() {
		if id := fields[in.Chat.UserKey]; id != "" {
			if u.ChatIDs == nil {
				u.ChatIDs = map[string]string{}
			}
			u.ChatIDs[in.Name] = id
		}
	}
	return nil
}

// Handoff is a change of who is on call; From or To is "" for nobody.
type Handoff struct {
	At   time.Time `json:"at"`
	From string    `json:"from"`
	To   string    `json:"to"`
}

// OnCallStatus lists, in config order, who is on call for each schedule at
// at and the next n handoffs.
func (rt *Runtime) OnCallStatus(at time.Time, n int) []ScheduleStatus {
	out := []ScheduleStatus{}
	for _, sc := range rt.Config.Schedules {
		s, ok := rt.Roster.Schedules[sc.Name]
		if !ok {
			continue
		}
		st := ScheduleStatus{Schedule: s.Name(), TimeZone: s.Location().String(), NextHandoffs: []Handoff{}}
		if name, ok := s.OnCall(at); ok {
			st.OnCall = &OnCallUser{Name: name}
			if u, ok := rt.Roster.Directory.User(name); ok {
				st.OnCall.ChatIDs = u.ChatIDs
			}
		}
		for _, h := range s.NextHandoffs(at, n) {
			st.NextHandoffs = append(st.NextHandoffs, Handoff{At: h.At, From: h.From, To: h.To})
		}
		out = append(out, st)
	}
	return out
}

// startKey is the acknowledgement link key of a receiver with none
// configured: made once per process, so that links survive reloads but
// not restarts.
var startKey = sync.OnceValue(acklink.GenerateKey)

// AckSigner returns the signer of acknowledgement links: the configured
// key, read afresh, or else the key made when the process started.
func (rt *Runtime) AckSigner() (*acklink.Signer, error) {
	key, err := rt.Config.AckKey()
	if err != nil {
		return nil, err
	}
	if key == nil {
		key = startKey()
	}
	return acklink.NewSigner(key)
}

// AckURL returns a signed link, below global.external_url, that
// acknowledges the incident once, until acklink.DefaultLifetime after now.
func (rt *Runtime) AckURL(incident string, now time.Time) (string, error) {
	signer, err := rt.AckSigner()
	if err != nil {
		return "", err
	}
	ext, err := rt.Config.ExternalURL()
	if err != nil {
		return "", err
	}
	return signer.URL(ext, incident, now.Add(acklink.DefaultLifetime)), nil
}

// CoverageHorizon is how far ahead check-config looks for gaps that would
// page nobody.
const CoverageHorizon = 14 * 24 * time.Hour

// CoverageGap is a schedule's time with nobody on call, in its zone, that
// would page nobody: the schedule has no fallback, nor do Policies, the
// escalation policies that page it.
type CoverageGap struct {
	Schedule string
	Policies []string
	Gaps     []oncall.Shift
}

// CoverageGaps lists, in config order, each schedule that an escalation
// policy without a fallback pages, that has no fallback of its own and
// that has nobody on call at times in [from, from+horizon).
func (rt *Runtime) CoverageGaps(from time.Time, horizon time.Duration) []CoverageGap {
	var out []CoverageGap
	for _, sc := range rt.Config.Schedules {
		s, ok := rt.Roster.Schedules[sc.Name]
		if !ok {
			continue
		}
		if _, has := s.Fallback(); has {
			continue
		}
		policies := rt.policiesWithoutFallback(sc.Name)
		if len(policies) == 0 {
			continue
		}
		if gaps := s.Gaps(from, from.Add(horizon)); len(gaps) > 0 {
			out = append(out, CoverageGap{Schedule: sc.Name, Policies: policies, Gaps: gaps})
		}
	}
	return out
}

// policiesWithoutFallback names the escalation policies without a
// fallback that page the schedule at some level.
func (rt *Runtime) policiesWithoutFallback(schedule string) []string {
	var out []string
	for _, p := range rt.Config.EscalationPolicies {
		if p.Fallback != nil {
			continue
		}
		pages := slices.ContainsFunc(p.Levels, func(l escalation.Level) bool {
			return slices.ContainsFunc(l.Targets, func(t escalation.Target) bool { return t.Schedule == schedule })
		})
		if pages {
			out = append(out, p.Name)
		}
	}
	return out
}

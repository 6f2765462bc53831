package receiver

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
	"github.com/klaxonhq/klaxon/pkg/oncall"
)

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
	_ escalation.Resolver = (*Roster)(nil)
	_ escalation.Users    = (*Roster)(nil)
)

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

// Prepare readies a notification for sending: relative runbook links
// become absolute, and a chat channel's trigger message of a route with
// an escalation policy mentions the policy's first level as it is now.
// PagerDuty and Opsgenie escalate by themselves and get no mentions;
// resolve and test messages mention nobody.
func (rt *Runtime) Prepare(n *notify.Notification) {
	rt.Runbooks.ResolveMessage(n.Message)
	n.Mentions = append(n.Mentions, rt.mentions(n, rt.Now())...)
	rt.AddAckURL(n)
}

func (rt *Runtime) mentions(n *notify.Notification, now time.Time) []string {
	if n.Kind != notify.KindTrigger {
		return nil
	}
	ch, ok := rt.Channels[n.Channel]
	chat, isChat := ch.Notifier.(notify.Chat)
	if !ok || !isChat {
		return nil
	}
	page, ok := rt.FirstPage(n.Route, now)
	if !ok {
		return nil
	}
	if len(page.Uncovered) > 0 && rt.logger != nil {
		rt.logger.Warn("nobody on call to mention", "route", n.Route, "channel", n.Channel, "schedules", page.Uncovered)
	}
	return page.MentionsOn(ch.Kind, chat)
}

// FirstPage is the page of the first level of the route's escalation
// policy, its recipients resolved at at; false when the route has none.
func (rt *Runtime) FirstPage(route string, at time.Time) (escalation.Page, bool) {
	r := rt.Config.Route(route)
	if r == nil || r.EscalationPolicy == "" {
		return escalation.Page{}, false
	}
	p, ok := rt.Config.EscalationPolicies.Get(r.EscalationPolicy)
	if !ok || len(p.Levels) == 0 {
		return escalation.Page{}, false
	}
	page := escalation.Page{Level: 1, Loop: 1, Kind: escalation.KindEscalate, Targets: p.Levels[0].Targets, Due: at}
	page.AddRecipients(rt.Roster, rt.Roster)
	return page, true
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

// OnCallAPI serves GET /api/v1/oncall[?at=RFC 3339 time]: who is on call
// per schedule, behind the webhook's bearer token.
type OnCallAPI struct {
	runtime func() *Runtime
	logger  *slog.Logger
}

// NewOnCallAPI returns the handler; runtime is asked for the Runtime in
// force at every request.
func NewOnCallAPI(runtime func() *Runtime, logger *slog.Logger) *OnCallAPI {
	return &OnCallAPI{runtime: runtime, logger: logger}
}

// onCallResponse is the API's answer.
type onCallResponse struct {
	At        time.Time        `json:"at"`
	Schedules []ScheduleStatus `json:"schedules"`
}

func (h *OnCallAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := h.runtime()
	if code, err := authorize(rt.Config, r, h.logger); err != nil {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="klaxon-receiver"`)
		}
		writeJSON(w, code, response{Error: err.Error()})
		return
	}
	at, err := ParseTime(r.URL.Query().Get("at"), rt.Now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, response{Error: err.Error(), Field: "at"})
		return
	}
	writeJSON(w, http.StatusOK, onCallResponse{At: at, Schedules: rt.OnCallStatus(at, NextHandoffs)})
}

// ParseTime parses an RFC 3339 time as the commands and the API take it;
// "" is now.
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q must be RFC 3339, such as 2026-03-10T08:50:00Z", s)
	}
	return t, nil
}

// Descriptions of the on-call metrics.
var (
	onCallCurrentDesc = prometheus.NewDesc("klaxon_oncall_current_info",
		"Who is on call now, per schedule: 1 with the user's name; user is empty when nobody is.",
		[]string{"schedule", "user"}, nil)
	onCallNextHandoffDesc = prometheus.NewDesc("klaxon_oncall_next_handoff_seconds",
		"Seconds until who is on call for the schedule next changes; absent when it never does.",
		[]string{"schedule"}, nil)
	onCallGapSecondsDesc = prometheus.NewDesc("klaxon_oncall_gap_seconds",
		"Seconds with nobody on call for the schedule in the next 7 days, counting from now.",
		[]string{"schedule"}, nil)
	onCallGapsDesc = prometheus.NewDesc("klaxon_oncall_gaps",
		"Number of intervals with nobody on call for the schedule in the next 7 days, counting from now.",
		[]string{"schedule"}, nil)
)

// onCallCollector computes the on-call metrics at scrape time from the
// Runtime in force.
type onCallCollector struct {
	runtime func() *Runtime
}

// NewOnCallCollector returns the collector of the klaxon_oncall_*
// metrics; runtime is asked for the Runtime in force at every scrape.
func NewOnCallCollector(runtime func() *Runtime) prometheus.Collector {
	return &onCallCollector{runtime: runtime}
}

func (c *onCallCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{onCallCurrentDesc, onCallNextHandoffDesc, onCallGapSecondsDesc, onCallGapsDesc} {
		ch <- d
	}
}

func (c *onCallCollector) Collect(ch chan<- prometheus.Metric) {
	rt := c.runtime()
	now := rt.Now()
	for _, sc := range rt.Config.Schedules {
		s, ok := rt.Roster.Schedules[sc.Name]
		if !ok {
			continue
		}
		user, _ := s.OnCall(now)
		ch <- prometheus.MustNewConstMetric(onCallCurrentDesc, prometheus.GaugeValue, 1, s.Name(), user)
		if next := s.NextHandoffs(now, 1); len(next) > 0 {
			ch <- prometheus.MustNewConstMetric(onCallNextHandoffDesc, prometheus.GaugeValue, next[0].At.Sub(now).Seconds(), s.Name())
		}
		gaps := s.Gaps(now, now.Add(GapHorizon))
		var total time.Duration
		for _, g := range gaps {
			total += g.Until.Sub(g.From)
		}
		ch <- prometheus.MustNewConstMetric(onCallGapSecondsDesc, prometheus.GaugeValue, total.Seconds(), s.Name())
		ch <- prometheus.MustNewConstMetric(onCallGapsDesc, prometheus.GaugeValue, float64(len(gaps)), s.Name())
	}
}

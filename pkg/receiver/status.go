package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/klaxonhq/klaxon/pkg/acklink"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/runbook"
	"github.com/klaxonhq/klaxon/pkg/statuspage"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// Acknowledger acknowledges an open incident on behalf of by. It returns
// an error wrapping statuspage.ErrNotFound for an incident that is unknown or
// resolved.
type Acknowledger interface {
	Acknowledge(ctx context.Context, incident, by string) (Acknowledgement, error)
}

// StatusOptions tune the status page. The zero value works.
type StatusOptions struct {
	// Logger; nil discards.
	Logger *slog.Logger
	// Location is the time zone of the times shown; nil means UTC.
	Location *time.Location
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
	return statuspage.AckURL(ext, signer, incident, now.Add(acklink.DefaultLifetime)), nil
}

// AddAckURL gives a chat channel's trigger or escalate message of a
// route with an escalation policy its acknowledgement link, unless it has
// one. Prepare calls it at send time. Without a key to sign with, the
// message goes without a link and a warning is logged.
func (rt *Runtime) AddAckURL(n *notify.Notification) {
	if n.AckURL != "" || (n.Kind != notify.KindTrigger && n.Kind != notify.KindEscalate) {
		return
	}
	ch, ok := rt.Channels[n.Channel]
	if _, isChat := ch.Notifier.(notify.Chat); !ok || !isChat {
		return
	}
	if r := rt.Config.Route(n.Route); r == nil || r.EscalationPolicy == "" {
		return
	}
	link, err := rt.AckURL(n.IncidentKey, rt.Now())
	if err != nil {
		if rt.logger != nil {
			rt.logger.Warn("message sent without an acknowledgement link", "channel", n.Channel, "incident", n.IncidentKey, "err", err)
		}
		return
	}
	n.AckURL = link
}

// NewStatusPage returns the handler of the status page and of the
// acknowledgement links (see statuspage.New), to mount at "/". rt is asked for
// the Runtime in force at every request; st holds the incidents'
// escalations and the used links' nonces; ack records acknowledgements.
// When the key or the external URL changes on a reload, the pages follow.
func NewStatusPage(rt func() *Runtime, st store.Escalations, ack Acknowledger, opts StatusOptions) (http.Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &statusPage{src: &statusSource{runtime: rt, store: st, ack: ack, logger: opts.Logger}, opts: opts}
	if _, err := p.handler(); err != nil {
		return nil, fmt.Errorf("status page: %w", err)
	}
	if !rt().Config.Global.Configured() {
		opts.Logger.Warn("none of global.ack_secret, ack_secret_file and ack_secret_env is set: acknowledgement links are signed with a key made at start, and stop working when the receiver restarts")
	}
	return p, nil
}

// statusPage serves web's handler, built again when the key or the
// external URL changes.
type statusPage struct {
	src  *statusSource
	opts StatusOptions

	mu  sync.Mutex
	key []byte
	ext string
	h   http.Handler
}

func (p *statusPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, err := p.handler()
	if err != nil {
		p.opts.Logger.Error("serving the status page", "err", err)
		http.Error(w, "The status page is unavailable: the acknowledgement key cannot be read.", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// handler returns web's handler for the key and external URL in force.
func (p *statusPage) handler() (http.Handler, error) {
	rt := p.src.runtime()
	signer, err := rt.AckSigner()
	if err != nil {
		return nil, err
	}
	ext, err := rt.Config.ExternalURL()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.h != nil && bytes.Equal(p.key, signer.Key) && p.ext == ext.String() {
		return p.h, nil
	}
	p.key, p.ext = signer.Key, ext.String()
	p.h = statuspage.New(p.src, signer, storeNonces{p.src.store}, statuspage.Options{
		Now:         func() time.Time { return p.src.runtime().Now() },
		Logger:      p.opts.Logger,
		ExternalURL: ext,
		Location:    p.opts.Location,
	})
	return p.h, nil
}

// storeNonces keeps used links' nonces in the store.
type storeNonces struct{ store store.Escalations }

func (n storeNonces) Use(ctx context.Context, nonce string, until time.Time) (bool, error) {
	return n.store.UseNonce(ctx, nonce, until)
}

// statusSource is the statuspage.Source over the store and the Runtime.
type statusSource struct {
	runtime func() *Runtime
	store   store.Escalations
	ack     Acknowledger
	logger  *slog.Logger
}

var _ statuspage.Source = (*statusSource)(nil)

// Incidents lists the incidents with an escalation. One whose state
// cannot be read is left out, with a warning.
func (s *statusSource) Incidents(ctx context.Context) ([]statuspage.Incident, error) {
	rows, err := s.store.OpenEscalations(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing escalations: %w", err)
	}
	rt := s.runtime()
	now := rt.Now()
	out := make([]statuspage.Incident, 0, len(rows))
	for _, e := range rows {
		inc, err := rt.incident(e, now)
		if err != nil {
			s.logger.Warn("incident left off the status page", "incident", e.IncidentKey, "err", err)
			continue
		}
		out = append(out, inc)
	}
	return out, nil
}

// OnCall is who is on call per schedule, with the next handoffs.
func (s *statusSource) OnCall(_ context.Context, at time.Time) ([]statuspage.OnCall, error) {
	var out []statuspage.OnCall
	for _, st := range s.runtime().OnCallStatus(at, NextHandoffs) {
		o := statuspage.OnCall{Schedule: st.Schedule}
		if st.OnCall != nil {
			o.User = st.OnCall.Name
		}
		for i, h := range st.NextHandoffs {
			if i == 0 {
				o.Until = h.At
			}
			o.Next = append(o.Next, statuspage.Handoff{At: h.At, User: h.To})
		}
		out = append(out, o)
	}
	return out, nil
}

// Ack acknowledges an open incident, named by its key or a prefix,
// through the Acknowledger. An ID that names no single incident is not
// found; an incident someone else acknowledged is statuspage.ErrAcknowledged.
func (s *statusSource) Ack(ctx context.Context, incident, by string) error {
	key, err := findIncident(ctx, s.store, incident)
	if errors.Is(err, ErrBadID) || errors.Is(err, ErrAmbiguousID) {
		return fmt.Errorf("%w: %w", statuspage.ErrNotFound, err)
	}
	if err != nil {
		return err
	}
	rows, err := s.store.OpenEscalations(ctx)
	if err != nil {
		return fmt.Errorf("listing escalations: %w", err)
	}
	if !openIncident(rows, key) {
		return fmt.Errorf("incident %s: %w", incident, statuspage.ErrNotFound)
	}
	a, err := s.ack.Acknowledge(ctx, key, by)
	if err == nil && a.Already && !samePerson(a.By, by) {
		return fmt.Errorf("incident %s, acknowledged by %s: %w", key, a.By, statuspage.ErrAcknowledged)
	}
	return err
}

// openIncident reports whether rows hold the incident, not resolved.
func openIncident(rows []store.Escalation, incident string) bool {
	for _, e := range rows {
		if e.IncidentKey != incident {
			continue
		}
		var st escalation.State
		return json.Unmarshal(e.State, &st) == nil && !st.Resolved
	}
	return false
}

// incident is an escalation as the status page shows it at now.
func (rt *Runtime) incident(e store.Escalation, now time.Time) (statuspage.Incident, error) {
	var st escalation.State
	if err := json.Unmarshal(e.State, &st); err != nil {
		return statuspage.Incident{}, fmt.Errorf("decoding escalation state: %w", err)
	}
	inc := statuspage.Incident{
		ID: e.IncidentKey, Route: e.Route, Title: e.Route, Status: incidentStatus(st),
		Started: st.Started, Level: st.Level, AckedBy: st.AckedBy, AckedAt: st.AckedAt,
		Paged: rt.pagedNow(st, now),
	}
	if len(e.Payload) == 0 {
		return inc, nil
	}
	msg, err := decodePayload(e.Payload)
	if err != nil {
		return statuspage.Incident{}, err
	}
	rt.Runbooks.ResolveMessage(msg)
	inc.Title, inc.Severity, inc.Alerts = incidentTitle(msg, e.Route), msg.Severity(), incidentAlerts(msg)
	return inc, nil
}

func incidentStatus(st escalation.State) string {
	switch {
	case st.Resolved:
		return statuspage.StatusResolved
	case st.Acked():
		return statuspage.StatusAcknowledged
	}
	return statuspage.StatusFiring
}

// pagedNow are the users the current level pages, resolved at now.
func (rt *Runtime) pagedNow(st escalation.State, now time.Time) []string {
	p, ok := rt.Config.EscalationPolicies.Get(st.Policy)
	if !ok || st.Level < 1 || st.Level > len(p.Levels) {
		return nil
	}
	page := escalation.Page{Level: st.Level, Loop: st.Loop, Targets: p.Levels[st.Level-1].Targets, Due: now}
	page.AddRecipients(rt.Roster, rt.Roster)
	return page.Users
}

// decodePayload reads an escalation's payload: Alertmanager's, or an
// envelope around it.
func decodePayload(data []byte) (*alert.Message, error) {
	msg, err := alert.Decode(bytes.NewReader(data))
	if err == nil {
		return msg, nil
	}
	if env, envErr := notify.DecodeEnvelope(data); envErr == nil {
		return env.Message, nil
	}
	return nil, fmt.Errorf("decoding payload: %w", err)
}

// incidentTitle is the alert name and summary the alerts share, else the
// route's name.
func incidentTitle(msg *alert.Message, route string) string {
	name, summary := msg.CommonLabels["alertname"], msg.CommonAnnotations["summary"]
	switch {
	case name != "" && summary != "":
		return name + ": " + summary
	case name != "":
		return name
	case summary != "":
		return summary
	}
	return route
}

// incidentAlerts are the firing alerts, or every alert when none fires.
func incidentAlerts(msg *alert.Message) []statuspage.Alert {
	alerts := msg.Firing()
	if len(alerts) == 0 {
		alerts = msg.Alerts
	}
	out := make([]statuspage.Alert, len(alerts))
	for i, a := range alerts {
		out[i] = statuspage.Alert{Name: a.Labels["alertname"], Summary: a.Annotations["summary"], RunbookURL: a.Annotations[runbook.Annotation]}
	}
	return out
}

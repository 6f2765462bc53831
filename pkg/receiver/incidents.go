package receiver

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/statuspage"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// DefaultReceiverURL is where the incident commands find a running
// receiver.
const DefaultReceiverURL = "http://localhost:9848"

// metricsTimeout bounds the store query of a scrape.
const metricsTimeout = 5 * time.Second

// IncidentStatus is one open incident's escalation as the incidents API
// shows it.
type IncidentStatus struct {
	ID     string `json:"id"`
	Route  string `json:"route"`
	Policy string `json:"policy"`
	// Level is the level paged so far in Loop; 0 before any.
	Level   int       `json:"level"`
	Loop    int       `json:"loop"`
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
	Started time.Time `json:"started"`
	// NextEscalation is when the next page is due; zero when none is.
	NextEscalation time.Time `json:"next_escalation,omitzero"`
}

// Incidents lists the open incidents, by incident key.
func (e *Escalator) Incidents(ctx context.Context) ([]IncidentStatus, error) {
	rows, err := e.store.OpenEscalations(ctx)
	if err != nil {
		return nil, err
	}
	out := []IncidentStatus{}
	for _, row := range rows {
		var s escalation.State
		if err := json.Unmarshal(row.State, &s); err != nil {
			return nil, fmt.Errorf("incident %s: decoding its escalation state: %w", row.IncidentKey, err)
		}
		if s.Resolved {
			continue
		}
		next, _ := s.Next()
		out = append(out, IncidentStatus{
			ID: row.IncidentKey, Route: row.Route, Policy: s.Policy, Level: s.Level, Loop: s.Loop,
			AckedBy: s.AckedBy, AckedAt: s.AckedAt, Started: s.Started, NextEscalation: next,
		})
	}
	return out, nil
}

// IncidentsAPI serves the incidents API behind the webhook's bearer
// token: GET /api/v1/incidents, POST /api/v1/incidents/{id}/ack with
// {"by": "name"}, and POST /api/v1/incidents/{id}/resolve.
type IncidentsAPI struct {
	config    func() *Config
	escalator *Escalator
	logger    *slog.Logger
}

// NewIncidentsAPI returns the handler of the incidents API.
func NewIncidentsAPI(config func() *Config, e *Escalator, logger *slog.Logger) *IncidentsAPI {
	return &IncidentsAPI{config: config, escalator: e, logger: logger}
}

// Register adds the API's routes to mux.
func (h *IncidentsAPI) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/incidents", h.guard(h.list))
	mux.Handle("POST /api/v1/incidents/{id}/ack", h.guard(h.ack))
	mux.Handle("POST /api/v1/incidents/{id}/resolve", h.guard(h.resolve))
}

// incidentsResponse is the answer to GET /api/v1/incidents.
type incidentsResponse struct {
	Incidents []IncidentStatus `json:"incidents"`
}

// ackRequest is the body of an acknowledgement.
type ackRequest struct {
	By string `json:"by"`
}

func (h *IncidentsAPI) guard(next func(*http.Request) (int, any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, err := authorize(h.config(), r, h.logger); err != nil {
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="klaxon-receiver"`)
			}
			writeJSON(w, code, response{Error: err.Error()})
			return
		}
		code, v := next(r)
		writeJSON(w, code, v)
	})
}

func (h *IncidentsAPI) list(r *http.Request) (int, any) {
	list, err := h.escalator.Incidents(r.Context())
	if err != nil {
		h.logger.Error("cannot list incidents", "err", err)
		return http.StatusServiceUnavailable, response{Error: "cannot list incidents: " + err.Error()}
	}
	return http.StatusOK, incidentsResponse{Incidents: list}
}

// changeResponse is the answer to an acknowledgement or a resolve.
type changeResponse struct {
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// ID is the incident's key, in full.
	ID      string    `json:"id,omitempty"`
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
}

// Statuses of an acknowledgement's answer.
const (
	statusAcknowledged        = "acknowledged"
	statusAlreadyAcknowledged = "already acknowledged"
)

// ack acknowledges an incident. Acknowledging again is answered 200
// "already acknowledged" for the same person (names compared regardless
// of case) and 409 with who has it for anyone else.
func (h *IncidentsAPI) ack(r *http.Request) (int, any) {
	var req ackRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return http.StatusBadRequest, changeResponse{Error: `body must be JSON {"by": "name"}: ` + err.Error()}
	}
	a, err := h.escalator.Acknowledge(r.Context(), r.PathValue("id"), req.By)
	if err != nil {
		return h.refusal(err)
	}
	resp := changeResponse{Status: statusAcknowledged, ID: a.Incident, AckedBy: a.By, AckedAt: a.At}
	switch {
	case !a.Already:
		return http.StatusOK, resp
	case samePerson(a.By, req.By):
		resp.Status = statusAlreadyAcknowledged
		return http.StatusOK, resp
	}
	resp.Status, resp.Error = "", fmt.Sprintf("incident %s was already acknowledged by %s at %s",
		alert.ShortID(a.Incident), a.By, formatTime(a.At))
	return http.StatusConflict, resp
}

// samePerson reports whether two acknowledgers' names are the same, as
// escalation.Ack names one without a name.
func samePerson(a, b string) bool {
	if b = strings.TrimSpace(b); b == "" {
		b = "someone"
	}
	return strings.EqualFold(strings.TrimSpace(a), b)
}

func (h *IncidentsAPI) resolve(r *http.Request) (int, any) {
	key, err := h.escalator.Resolve(r.Context(), r.PathValue("id"), "api")
	if err != nil {
		return h.refusal(err)
	}
	return http.StatusOK, changeResponse{Status: "resolved", ID: key}
}

// refusal is the answer to a failed acknowledgement or resolve.
func (h *IncidentsAPI) refusal(err error) (int, any) {
	switch {
	case errors.Is(err, ErrBadID):
		return http.StatusBadRequest, changeResponse{Error: err.Error()}
	case errors.Is(err, ErrAmbiguousID):
		return http.StatusConflict, changeResponse{Error: err.Error()}
	case errors.Is(err, statuspage.ErrNotFound):
		return http.StatusNotFound, changeResponse{Error: err.Error()}
	}
	h.logger.Error("cannot change incident", "err", err)
	return http.StatusServiceUnavailable, changeResponse{Error: err.Error()}
}

// Descriptions of the incident metrics.
var (
	incidentsOpenDesc = prometheus.NewDesc("klaxon_receiver_incidents_open",
		"Open incidents with an escalation, by route.", []string{"route"}, nil)
	incidentsUnackedDesc = prometheus.NewDesc("klaxon_receiver_incidents_unacknowledged",
		"Open incidents nobody acknowledged, by route.", []string{"route"}, nil)
	incidentOldestUnackedDesc = prometheus.NewDesc("klaxon_receiver_incident_oldest_unacknowledged_age_seconds",
		"Age of the oldest open incident nobody acknowledged, by route; 0 when there is none.", []string{"route"}, nil)
	incidentsPastLastDesc = prometheus.NewDesc("klaxon_receiver_incidents_past_last_level",
		"Open incidents nobody acknowledged although their policy's last level was paged, by route.", []string{"route"}, nil)
	incidentsByLevelDesc = prometheus.NewDesc("klaxon_receiver_incidents_by_level",
		"Open incidents by route and the escalation level last paged (0: none yet).", []string{"route", "level"}, nil)
)

// incidentCollector computes the incident metrics at scrape time from the
// open escalations.
type incidentCollector struct {
	escalator *Escalator
}

func (c *incidentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{incidentsOpenDesc, incidentsUnackedDesc, incidentOldestUnackedDesc, incidentsPastLastDesc, incidentsByLevelDesc} {
		ch <- d
	}
}

// routeIncidents is one route's incident counts.
type routeIncidents struct {
	open, unacked, pastLast int
	oldest                  time.Time
	byLevel                 map[int]int
}

func (c *incidentCollector) Collect(ch chan<- prometheus.Metric) {
	rt := c.escalator.runtime()
	ctx, cancel := context.WithTimeout(context.Background(), metricsTimeout)
	defer cancel()
	rows, err := c.escalator.store.OpenEscalations(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(incidentsOpenDesc, err)
		return
	}
	counts := map[string]*routeIncidents{}
	for _, r := range rt.Config.Routes {
		if r.EscalationPolicy == "" {
			continue
		}
		n := &routeIncidents{byLevel: map[int]int{}}
		if p, ok := rt.Config.EscalationPolicies.Get(r.EscalationPolicy); ok {
			for level := range len(p.Levels) {
				n.byLevel[level+1] = 0
			}
		}
		counts[r.Name] = n
	}
	for _, row := range rows {
		count(counts, row, rt)
	}
	now := rt.Now()
	for route, n := range counts {
		var age float64
		if !n.oldest.IsZero() {
			age = max(now.Sub(n.oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(incidentsOpenDesc, prometheus.GaugeValue, float64(n.open), route)
		ch <- prometheus.MustNewConstMetric(incidentsUnackedDesc, prometheus.GaugeValue, float64(n.unacked), route)
		ch <- prometheus.MustNewConstMetric(incidentOldestUnackedDesc, prometheus.GaugeValue, age, route)
		ch <- prometheus.MustNewConstMetric(incidentsPastLastDesc, prometheus.GaugeValue, float64(n.pastLast), route)
		for level, k := range n.byLevel {
			ch <- prometheus.MustNewConstMetric(incidentsByLevelDesc, prometheus.GaugeValue, float64(k), route, strconv.Itoa(level))
		}
	}
}

// count adds one escalation to its route's counts.
func count(counts map[string]*routeIncidents, row store.Escalation, rt *Runtime) {
	var s escalation.State
	if json.Unmarshal(row.State, &s) != nil || s.Resolved {
		return
	}
	n, ok := counts[row.Route]
	if !ok {
		n = &routeIncidents{byLevel: map[int]int{}}
		counts[row.Route] = n
	}
	n.open++
	n.byLevel[s.Level]++
	if s.Acked() {
		return
	}
	n.unacked++
	if n.oldest.IsZero() || s.Started.Before(n.oldest) {
		n.oldest = s.Started
	}
	if p, ok := rt.Config.EscalationPolicies.Get(s.Policy); ok && pastLastLevel(s, p) {
		n.pastLast++
	}
}

// pastLastLevel reports whether the policy's last level has been paged.
func pastLastLevel(s escalation.State, p *escalation.Policy) bool {
	return s.Loop > 1 || (len(p.Levels) > 0 && s.Level >= len(p.Levels))
}

// IncidentClient calls the incidents API of a running receiver.
type IncidentClient struct {
	// URL is the receiver's base URL (DefaultReceiverURL when empty).
	URL string
	// BearerTokenFile, if set, holds the webhook's bearer token.
	BearerTokenFile string
	HTTP            *http.Client
}

// ShowIncidents prints the open incidents as a table, each by its short
// ID (alert.ShortID), which ack and resolve take.
func (c *IncidentClient) ShowIncidents(ctx context.Context, w io.Writer) error {
	var resp incidentsResponse
	if err := c.call(ctx, http.MethodGet, "/api/v1/incidents", nil, &resp); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROUTE\tPOLICY\tLEVEL\tSTARTED\tACKED BY\tNEXT ESCALATION")
	for _, in := range resp.Incidents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", alert.ShortID(in.ID), in.Route, in.Policy, in.Level,
			formatTime(in.Started), orDash(in.AckedBy), formatTime(in.NextEscalation))
	}
	return tw.Flush()
}

// Acknowledge acknowledges an incident, by its ID or a prefix of at
// least alert.ShortIDLength characters, on behalf of by. Acknowledging
// again as the same person says so and succeeds; as anyone else it
// fails, naming who acknowledged and when.
func (c *IncidentClient) Acknowledge(ctx context.Context, id, by string, w io.Writer) error {
	body, err := json.Marshal(ackRequest{By: by})
	if err != nil {
		return err
	}
	var resp changeResponse
	if err := c.call(ctx, http.MethodPost, "/api/v1/incidents/"+url.PathEscape(id)+"/ack", body, &resp); err != nil {
		return err
	}
	// A receiver from before the answer named the incident says less.
	short := alert.ShortID(cmp.Or(resp.ID, id))
	resp.AckedBy = cmp.Or(resp.AckedBy, by)
	if resp.Status == statusAlreadyAcknowledged {
		_, err = fmt.Fprintf(w, "incident %s was already acknowledged by %s at %s: nothing changed\n", short, resp.AckedBy, formatTime(resp.AckedAt))
		return err
	}
	_, err = fmt.Fprintf(w, "incident %s acknowledged by %s\n", short, resp.AckedBy)
	return err
}

// Resolve ends an incident's escalation.
func (c *IncidentClient) Resolve(ctx context.Context, id string, w io.Writer) error {
	var resp changeResponse
	if err := c.call(ctx, http.MethodPost, "/api/v1/incidents/"+url.PathEscape(id)+"/resolve", nil, &resp); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "incident %s resolved: nobody is paged for it any more; Alertmanager's alerts are unchanged\n", alert.ShortID(cmp.Or(resp.ID, id)))
	return err
}

// call sends a request to the API and decodes the answer into out.
func (c *IncidentClient) call(ctx context.Context, method, path string, body []byte, out any) error {
	base := c.URL
	if base == "" {
		base = DefaultReceiverURL
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := c.authorize(req); err != nil {
		return err
	}
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("calling the receiver: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the receiver's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var r response
		if json.Unmarshal(data, &r) == nil && r.Error != "" {
			return fmt.Errorf("receiver answered %d: %s", resp.StatusCode, r.Error)
		}
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding the receiver's answer: %w", err)
	}
	return nil
}

func (c *IncidentClient) authorize(req *http.Request) error {
	if c.BearerTokenFile == "" {
		return nil
	}
	data, err := os.ReadFile(c.BearerTokenFile)
	if err != nil {
		return fmt.Errorf("reading the bearer token file: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(data)))
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Package pagerdutytest is a fake of PagerDuty's Events API v2 for tests:
// it checks events the way PagerDuty documents, answers with PagerDuty's
// status codes and bodies, holds the per-routing-key rate limit, records
// what it accepted and can be told to fail.
package pagerdutytest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

// The Events API's documented limits.
const (
	// MaxEventBytes is the cap on one event (512 KB).
	MaxEventBytes = 512000
	// MaxSummary is the limit on payload.summary, in characters.
	MaxSummary = 1024
	// MaxDedupKey is the limit on dedup_key, in characters.
	MaxDedupKey = 255
	// RateLimit is how many events a routing key may send per minute.
	RateLimit = 120
)

// Event is an event as the fake decoded it.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload"`
	Client      string   `json:"client"`
	ClientURL   string   `json:"client_url"`
	Links       []Link   `json:"links"`
	Images      []Image  `json:"images"`
}

// Payload is a trigger event's payload.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component"`
	Group         string         `json:"group"`
	Class         string         `json:"class"`
	CustomDetails map[string]any `json:"custom_details"`
}

// Link is an entry of links.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Image is an entry of images.
type Image struct {
	Src  string `json:"src"`
	Href string `json:"href"`
	Alt  string `json:"alt"`
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server

	faults fakeapi.Faults
	limit  *fakeapi.RateLimit

	mu     sync.Mutex
	events []Event
	bodies [][]byte
}

// NewServer starts a fake holding PagerDuty's rate limit. Close it when
// done.
func NewServer() *Server {
	s := &Server{limit: fakeapi.NewRateLimit(fakeapi.Sliding, RateLimit, time.Minute)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// URL is the fake's enqueue endpoint.
func (s *Server) URL() string { return s.srv.URL + "/v2/enqueue" }

// Close stops the fake.
func (s *Server) Close() {
	s.faults.Release()
	s.srv.Close()
}

// Received returns the events accepted so far, in order.
func (s *Server) Received() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Bodies returns the raw bodies of the accepted events, in order.
func (s *Server) Bodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bodies)
}

// SetRateLimit replaces the limit of RateLimit events per minute and
// routing key with n events in any period; see fakeapi.RateLimit.
func (s *Server) SetRateLimit(n int, per time.Duration) { s.limit.SetRateLimit(n, per) }

// FailNext answers the next n requests with f, before looking at them;
// the body is PagerDuty's for the status unless f.Body is set.
func (s *Server) FailNext(n int, f fakeapi.Fault) { s.faults.FailNext(n, f) }

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if s.faults.Answer(w, r, writeFault) {
		return
	}
	if r.URL.Path != "/v2/enqueue" {
		fakeapi.WriteJSON(w, http.StatusNotFound, map[string]string{"status": "not found", "message": "Not Found"})
		return
	}
	if r.Method != http.MethodPost {
		fakeapi.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"status": "method not allowed", "message": "Method Not Allowed"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxEventBytes+1))
	if err != nil {
		invalid(w, "Request body could not be read")
		return
	}
	if len(body) > MaxEventBytes {
		invalid(w, fmt.Sprintf("Event object is larger than %d bytes", MaxEventBytes))
		return
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		invalid(w, "Malformed JSON: "+err.Error())
		return
	}
	if problems := check(&ev); len(problems) > 0 {
		invalid(w, problems...)
		return
	}
	if !s.limit.Admit(ev.RoutingKey).OK {
		fakeapi.WriteJSON(w, http.StatusTooManyRequests, map[string]string{"status": "throttle event",
			"message": "Requests for this routing key are arriving too quickly. Please retry later."})
		return
	}
	s.record(&ev, body)
	fakeapi.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

// writeFault answers a fault's status with its body or PagerDuty's.
func writeFault(w http.ResponseWriter, f fakeapi.Fault) {
	body := f.Body
	if body == "" {
		b, _ := json.Marshal(defaultFailure(f.Status))
		body = string(b)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, body)
}

// defaultFailure is PagerDuty's body for an injected status.
func defaultFailure(status int) any {
	if status == http.StatusBadRequest {
		return map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{"injected failure"}}
	}
	return map[string]string{"status": strings.ToLower(http.StatusText(status)), "message": http.StatusText(status)}
}

func (s *Server) record(ev *Event, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.DedupKey == "" {
		ev.DedupKey = newKey()
	}
	s.events = append(s.events, *ev)
	s.bodies = append(s.bodies, body)
}

// check lists what PagerDuty would reject in ev.
func check(ev *Event) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(ev.RoutingKey) != 32 && !strings.HasPrefix(ev.RoutingKey, "R") {
		add("Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	switch ev.EventAction {
	case "trigger":
		problems = append(problems, checkTrigger(ev)...)
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			add("'dedup_key' is required for event_action %s", ev.EventAction)
		}
	default:
		add("'event_action' is invalid (must be trigger, acknowledge or resolve)")
	}
	if utf8.RuneCountInString(ev.DedupKey) > MaxDedupKey {
		add("'dedup_key' is longer than %d characters", MaxDedupKey)
	}
	return problems
}

func checkTrigger(ev *Event) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	p := ev.Payload
	if p == nil {
		return []string{"'payload' is missing"}
	}
	switch {
	case strings.TrimSpace(p.Summary) == "":
		add("'payload.summary' is missing or blank")
	case utf8.RuneCountInString(p.Summary) > MaxSummary:
		add("'payload.summary' is longer than %d characters", MaxSummary)
	}
	if strings.TrimSpace(p.Source) == "" {
		add("'payload.source' is missing or blank")
	}
	if !slices.Contains([]string{"critical", "error", "warning", "info"}, p.Severity) {
		add("'payload.severity' is invalid (must be critical, error, warning or info)")
	}
	for i, l := range ev.Links {
		if l.Href == "" {
			add("'links[%d].href' is missing", i)
		}
	}
	for i, img := range ev.Images {
		if !strings.HasPrefix(img.Src, "https://") {
			add("'images[%d].src' must be an HTTPS URL", i)
		}
	}
	return problems
}

func invalid(w http.ResponseWriter, problems ...string) {
	fakeapi.WriteJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": problems})
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

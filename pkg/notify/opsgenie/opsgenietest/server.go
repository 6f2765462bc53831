// Package opsgenietest is a fake of Opsgenie's Alert API v2 for tests: it
// checks the API key and requests the way Opsgenie documents, answers with
// Opsgenie's status codes and bodies, holds a configurable rate limit,
// records created and closed alerts and can be told to fail.
package opsgenietest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

// The Alert API's documented limits.
const (
	MaxMessage     = 130
	MaxAlias       = 512
	MaxDescription = 15000
	MaxTags        = 20
	MaxTagLength   = 50
)

// Alert is a create request as the fake decoded it.
type Alert struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description"`
	Responders  []Responder       `json:"responders"`
	Tags        []string          `json:"tags"`
	Details     map[string]string `json:"details"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
}

// Responder is an entry of responders.
type Responder struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

// Close is a close request: the alias it addressed and its body.
type Close struct {
	Alias  string `json:"-"`
	Source string `json:"source"`
	Note   string `json:"note"`
	User   string `json:"user"`
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server
	key string

	faults fakeapi.Faults
	limit  *fakeapi.RateLimit

	mu       sync.Mutex
	alerts   []Alert
	bodies   [][]byte
	closes   []Close
	requests int
}

// NewServer starts a fake that accepts only apiKey. Close it when done.
func NewServer(apiKey string) *Server {
	s := &Server{key: apiKey, limit: fakeapi.NewRateLimit(fakeapi.Sliding, 0, 0)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// URL is the fake's API root, to configure as api_url.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the fake.
func (s *Server) Close() {
	s.faults.Release()
	s.srv.Close()
}

// Received returns the alerts created so far, in order.
func (s *Server) Received() []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.alerts)
}

// Bodies returns the raw bodies of the accepted create requests, in order.
func (s *Server) Bodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bodies)
}

// Closed returns the accepted close requests, in order.
func (s *Server) Closed() []Close {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.closes)
}

// SetRateLimit answers 429 to requests beyond n in any period; a period
// of 0 turns the limit off, which is the default.
func (s *Server) SetRateLimit(n int, per time.Duration) { s.limit.SetRateLimit(n, per) }

// FailNext answers the next n requests with f, before looking at them;
// the body is Opsgenie's error object unless f.Body is set.
func (s *Server) FailNext(n int, f fakeapi.Fault) { s.faults.FailNext(n, f) }

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if s.faults.Answer(w, r, s.writeFault) {
		return
	}
	if r.Header.Get("Authorization") != "GenieKey "+s.key {
		s.writeError(w, http.StatusUnauthorized, "Key format is not valid!")
		return
	}
	if !s.limit.Admit("").OK {
		w.Header().Set("X-RateLimit-State", "THROTTLED")
		s.writeError(w, http.StatusTooManyRequests, "You are making too many requests! To avoid errors, we recommend you limit requests.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "Request body could not be read")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/alerts":
		s.create(w, body)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v2/alerts/") && strings.HasSuffix(r.URL.Path, "/close"):
		s.close(w, r, body)
	default:
		s.writeError(w, http.StatusNotFound, "Could not find the requested resource")
	}
}

func (s *Server) create(w http.ResponseWriter, body []byte) {
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		s.writeError(w, http.StatusBadRequest, "Could not parse the request body: "+err.Error())
		return
	}
	if problem := checkDetails(raw["details"]); problem != "" {
		s.writeError(w, http.StatusUnprocessableEntity, problem)
		return
	}
	var a Alert
	if err := json.Unmarshal(body, &a); err != nil {
		s.writeError(w, http.StatusUnprocessableEntity, "Request body is not processable: "+err.Error())
		return
	}
	if problem := check(&a); problem != "" {
		s.writeError(w, http.StatusUnprocessableEntity, problem)
		return
	}
	s.mu.Lock()
	s.alerts = append(s.alerts, a)
	s.bodies = append(s.bodies, body)
	s.mu.Unlock()
	s.accepted(w)
}

func (s *Server) close(w http.ResponseWriter, r *http.Request, body []byte) {
	alias := strings.TrimSuffix(strings.TrimPrefix(r.URL.EscapedPath(), "/v2/alerts/"), "/close")
	alias, err := url.PathUnescape(alias)
	switch {
	case err != nil || alias == "":
		s.writeError(w, http.StatusUnprocessableEntity, "Identifier is not valid")
		return
	case r.URL.Query().Get("identifierType") != "alias":
		// Without identifierType=alias, Opsgenie reads the identifier as
		// an alert id, and closing by alias silently closes nothing.
		s.writeError(w, http.StatusUnprocessableEntity, "fake: close must address the alert by alias (identifierType=alias)")
		return
	case utf8.RuneCountInString(alias) > MaxAlias:
		s.writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Alias can not be longer than %d characters.", MaxAlias))
		return
	}
	c := Close{Alias: alias}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &c); err != nil {
			s.writeError(w, http.StatusBadRequest, "Could not parse the request body: "+err.Error())
			return
		}
		c.Alias = alias
	}
	s.mu.Lock()
	s.closes = append(s.closes, c)
	s.mu.Unlock()
	s.accepted(w)
}

// check returns what Opsgenie would reject in a, or "".
func check(a *Alert) string {
	switch {
	case strings.TrimSpace(a.Message) == "":
		return "Message can not be empty."
	case utf8.RuneCountInString(a.Message) > MaxMessage:
		return fmt.Sprintf("Message can not be longer than %d characters.", MaxMessage)
	case utf8.RuneCountInString(a.Alias) > MaxAlias:
		return fmt.Sprintf("Alias can not be longer than %d characters.", MaxAlias)
	case utf8.RuneCountInString(a.Description) > MaxDescription:
		return fmt.Sprintf("Description can not be longer than %d characters.", MaxDescription)
	case len(a.Tags) > MaxTags:
		return fmt.Sprintf("Tags can not have more than %d items.", MaxTags)
	case a.Priority != "" && !slices.Contains([]string{"P1", "P2", "P3", "P4", "P5"}, a.Priority):
		return fmt.Sprintf("Priority should be one of [P1, P2, P3, P4, P5], not %s.", a.Priority)
	}
	for _, t := range a.Tags {
		if utf8.RuneCountInString(t) > MaxTagLength {
			return fmt.Sprintf("Tag can not be longer than %d characters: %s", MaxTagLength, t)
		}
	}
	for _, r := range a.Responders {
		if problem := checkResponder(r); problem != "" {
			return problem
		}
	}
	return ""
}

func checkResponder(r Responder) string {
	if !slices.Contains([]string{"team", "user", "escalation", "schedule"}, r.Type) {
		return fmt.Sprintf("Responder type %q is not valid; should be one of team, user, escalation, schedule.", r.Type)
	}
	if r.ID == "" && r.Name == "" && r.Username == "" {
		return fmt.Sprintf("Responder of type %s needs an id, name or username.", r.Type)
	}
	return ""
}

// checkDetails requires details to be an object of strings.
func checkDetails(v any) string {
	if v == nil {
		return ""
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "Details should be an object."
	}
	for k, val := range m {
		if _, ok := val.(string); !ok {
			return fmt.Sprintf("Details values must be strings; %q is not.", k)
		}
	}
	return ""
}

// writeFault answers a fault's status with its body or Opsgenie's.
func (s *Server) writeFault(w http.ResponseWriter, f fakeapi.Fault) {
	if f.Body == "" {
		s.writeError(w, f.Status, http.StatusText(f.Status))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, f.Body)
}

func (s *Server) accepted(w http.ResponseWriter) {
	fakeapi.WriteJSON(w, http.StatusAccepted, map[string]any{"result": "Request will be processed", "took": 0.1, "requestId": s.requestID()})
}

func (s *Server) writeError(w http.ResponseWriter, status int, message string) {
	fakeapi.WriteJSON(w, status, map[string]any{"message": message, "took": 0.001, "requestId": s.requestID()})
}

// requestID numbers the fake's answers, so that tests can predict them.
func (s *Server) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	return fmt.Sprintf("fake-request-%d", s.requests)
}

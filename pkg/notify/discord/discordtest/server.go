// Package discordtest is a fake of Discord's "Execute Webhook" API for
// tests: it checks what Discord checks (webhook ID and token, message and
// embed limits, allowed_mentions), answers with Discord's status codes and
// error bodies, enforces a per-webhook rate limit with Discord's headers,
// records the messages it accepted and can be told to fail.
package discordtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

// DefaultRateLimit and DefaultRatePeriod are the fake's bucket for each
// webhook: the numbers commonly observed from Discord.
const (
	DefaultRateLimit  = 5
	DefaultRatePeriod = 2 * time.Second
)

// maxBody is the largest JSON body the fake reads.
const maxBody = 1 << 20

// Server is a fake Discord API serving
// POST /api/webhooks/{id}/{token} (optionally /api/v{N}/...). It is safe
// for concurrent use.
type Server struct {
	srv    *httptest.Server
	faults fakeapi.Faults
	limit  *fakeapi.RateLimit

	mu       sync.Mutex
	hooks    map[string]string // id → token
	received []Received
	attempts int
	lastID   uint64
}

// GlobalRateLimit is the fault of Discord's global rate limit: a 429 that
// says so in its headers and body, to retry after after.
func GlobalRateLimit(after time.Duration) fakeapi.Fault {
	return fakeapi.Fault{Status: http.StatusTooManyRequests, RetryAfter: after,
		Header: http.Header{"X-Ratelimit-Global": {"true"}, "X-Ratelimit-Scope": {"global"}}}
}

// Received is a message the fake accepted.
type Received struct {
	WebhookID string
	// Wait is the ?wait=true query.
	Wait bool
	// Body is the request decoded; Raw is it as sent.
	Body Message
	Raw  json.RawMessage
	// At is when the fake accepted the message, by its clock.
	At time.Time
}

// Message is the JSON body of "Execute Webhook", as far as the fake knows
// it. Fields the fake does not know are refused, which is stricter than
// Discord (it ignores them) so that a misspelt key fails a test.
type Message struct {
	Content         string           `json:"content,omitempty"`
	Username        string           `json:"username,omitempty"`
	AvatarURL       string           `json:"avatar_url,omitempty"`
	TTS             bool             `json:"tts,omitempty"`
	Embeds          []Embed          `json:"embeds,omitempty"`
	AllowedMentions *AllowedMentions `json:"allowed_mentions,omitempty"`
	Flags           int              `json:"flags,omitempty"`
	ThreadName      string           `json:"thread_name,omitempty"`
}

// Embed is a rich embed.
type Embed struct {
	Type        string  `json:"type,omitempty"`
	Title       string  `json:"title,omitempty"`
	Description string  `json:"description,omitempty"`
	URL         string  `json:"url,omitempty"`
	Timestamp   string  `json:"timestamp,omitempty"`
	Color       *int    `json:"color,omitempty"`
	Footer      *Footer `json:"footer,omitempty"`
	Image       *Media  `json:"image,omitempty"`
	Thumbnail   *Media  `json:"thumbnail,omitempty"`
	Author      *Author `json:"author,omitempty"`
	Fields      []Field `json:"fields,omitempty"`
}

// Footer is an embed's footer.
type Footer struct {
	Text    string `json:"text"`
	IconURL string `json:"icon_url,omitempty"`
}

// Media is an embed's image or thumbnail.
type Media struct {
	URL string `json:"url"`
}

// Author is an embed's author.
type Author struct {
	Name    string `json:"name"`
	URL     string `json:"url,omitempty"`
	IconURL string `json:"icon_url,omitempty"`
}

// Field is an embed field.
type Field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

// AllowedMentions says which mentions in content may ping.
type AllowedMentions struct {
	Parse       []string `json:"parse"`
	Roles       []string `json:"roles"`
	Users       []string `json:"users"`
	RepliedUser bool     `json:"replied_user,omitempty"`
}

// NewServer starts a fake with no webhooks; add them with AddWebhook.
func NewServer() *Server {
	s := &Server{
		hooks: map[string]string{},
		limit: fakeapi.NewRateLimit(fakeapi.Fixed, DefaultRateLimit, DefaultRatePeriod),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the fake; requests then fail with "connection refused".
func (s *Server) Close() {
	s.faults.Release()
	s.srv.Close()
}

// URL is the fake's base URL.
func (s *Server) URL() string { return s.srv.URL }

// AddWebhook creates a webhook and returns its execute URL.
func (s *Server) AddWebhook(id, token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[id] = token
	return s.WebhookURL(id, token)
}

// WebhookURL is the execute URL of a webhook, known to the fake or not.
func (s *Server) WebhookURL(id, token string) string {
	return fmt.Sprintf("%s/api/webhooks/%s/%s", s.srv.URL, id, token)
}

// Received returns the messages accepted so far, oldest first.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.received))
	copy(out, s.received)
	return out
}

// Attempts counts the requests to webhook paths, answered or not.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// FailNext makes the next n requests to webhook paths get f instead of
// being executed. The body is Discord's for the status unless f.Body is
// set: for a 429, retry_after is f.RetryAfter in seconds, fractional (see
// GlobalRateLimit for the global limit).
func (s *Server) FailNext(n int, f fakeapi.Fault) { s.faults.FailNext(n, f) }

// SetRateLimit sets each webhook's bucket: n requests per period. A period
// of 0 turns rate limiting off.
func (s *Server) SetRateLimit(n int, per time.Duration) { s.limit.SetRateLimit(n, per) }

// SetClock replaces the clock of the rate limit and of the messages'
// timestamps, so that tests control time.
func (s *Server) SetClock(now func() time.Time) { s.limit.SetClock(now) }

var pathRE = regexp.MustCompile(`^/api(?:/v[0-9]+)?/webhooks/([^/]+)/([^/]+)$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	m := pathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeError(w, http.StatusNotFound, 0, "404: Not Found", nil)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, 0, "405: Method Not Allowed", nil)
		return
	}
	s.count()
	if s.faults.Answer(w, r, writeFault) {
		return
	}
	if !s.known(m[1], m[2]) {
		writeError(w, http.StatusNotFound, 10015, "Unknown Webhook", nil)
		return
	}
	if !s.rateLimit(w, m[1]) {
		return
	}
	s.execute(w, r, m[1])
}

// count counts a request to a webhook path, answered or not.
func (s *Server) count() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
}

// known reports whether the webhook exists.
func (s *Server) known(id, token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.hooks[id]
	return ok && t == token
}

// rateLimit takes a request from the webhook's bucket and sets Discord's
// headers; on an empty bucket it answers 429 and returns false.
func (s *Server) rateLimit(w http.ResponseWriter, id string) bool {
	v := s.limit.Admit(id)
	if !v.On {
		return true
	}
	after := v.Reset.Sub(v.At)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(v.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(v.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(v.Reset.UnixMilli())/1000, 'f', 3, 64))
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(after.Seconds(), 'f', 3, 64))
	h.Set("X-RateLimit-Bucket", "webhook-"+id)
	if !v.OK {
		h.Set("X-RateLimit-Scope", "user")
		writeRateLimited(w, after, false)
	}
	return v.OK
}

// writeFault answers a fault's status with its body or Discord's.
func writeFault(w http.ResponseWriter, f fakeapi.Fault) {
	switch {
	case f.Status == http.StatusTooManyRequests && f.Body == "":
		writeRateLimited(w, f.RetryAfter, f.Header.Get("X-RateLimit-Global") == "true")
	case f.Body != "":
		w.WriteHeader(f.Status)
		_, _ = io.WriteString(w, f.Body)
	default:
		writeStatus(w, f.Status)
	}
}

// writeStatus answers status with the body Discord sends for it.
func writeStatus(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusOK, http.StatusNoContent:
		w.WriteHeader(status)
	case http.StatusBadRequest:
		writeError(w, status, 50035, "Invalid Form Body", fieldErrors{{"content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."}})
	case http.StatusUnauthorized:
		writeError(w, status, 50027, "Invalid Webhook Token", nil)
	case http.StatusForbidden:
		writeError(w, status, 50013, "Missing Permissions", nil)
	case http.StatusNotFound:
		writeError(w, status, 10015, "Unknown Webhook", nil)
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		// Discord's edge answers these in HTML.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center></body></html>",
			status, http.StatusText(status), status, http.StatusText(status))
	default:
		writeError(w, status, 0, fmt.Sprintf("%d: %s", status, http.StatusText(status)), nil)
	}
}

func writeRateLimited(w http.ResponseWriter, after time.Duration, global bool) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(after.Seconds()))))
	fakeapi.WriteJSON(w, http.StatusTooManyRequests, map[string]any{
		"message":     "You are being rate limited.",
		"retry_after": math.Round(after.Seconds()*1000) / 1000,
		"global":      global,
	})
}

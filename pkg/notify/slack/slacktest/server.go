// Package slacktest is a fake of Slack's incoming webhooks for tests: it
// checks what Slack checks (the webhook's token, a JSON body, text or
// attachments, sizes, the rate limit), answers as Slack does, with
// plain-text error strings, records what it accepted, and lets a test
// make it fail.
package slacktest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

// Limits the fake enforces.
const (
	// MaxText: Slack truncates text past 40,000 characters; the fake
	// rejects it, so that a client that relies on the truncation fails.
	MaxText = 40000
	// MaxAttachments: Slack's guidance is at most 20 attachments.
	MaxAttachments = 20
	// MaxBody bounds a request body.
	MaxBody = 1 << 20
)

// Default rate limit per webhook: Slack allows about one message a second
// with short bursts, so the fake takes 4 at once, refilled at one a
// second.
const (
	DefaultRateLimit  = 4
	DefaultRatePeriod = 4 * time.Second
)

// Message is a webhook post as the fake decodes it.
type Message struct {
	Channel     string       `json:"channel,omitempty"`
	Username    string       `json:"username,omitempty"`
	IconEmoji   string       `json:"icon_emoji,omitempty"`
	Text        string       `json:"text,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Attachment is a legacy secondary attachment.
type Attachment struct {
	Color     string   `json:"color,omitempty"`
	Fallback  string   `json:"fallback,omitempty"`
	Title     string   `json:"title,omitempty"`
	TitleLink string   `json:"title_link,omitempty"`
	Text      string   `json:"text,omitempty"`
	Footer    string   `json:"footer,omitempty"`
	Ts        int64    `json:"ts,omitempty"`
	MrkdwnIn  []string `json:"mrkdwn_in,omitempty"`
}

// Request is one post the fake accepted.
type Request struct {
	// Webhook is the token part of the URL the post went to.
	Webhook string
	Message Message
	// Body is the request body as sent.
	Body []byte
	// Mentions are the control sequences in the message's text and
	// attachment texts that notify someone (<@U…>, <!subteam^S…>,
	// <!here>, <!channel>, <!everyone>), in order of appearance.
	Mentions []string
	// At is when the fake accepted the post, by its rate limit's clock.
	At time.Time
}

// Server is a fake Slack serving incoming webhooks at /services/<token>.
type Server struct {
	srv *httptest.Server

	faults fakeapi.Faults
	limit  *fakeapi.RateLimit

	mu       sync.Mutex
	tokens   map[string]bool
	received []Request
	attempts int
}

// NewServer starts a fake Slack. Close it when done.
func NewServer() *Server {
	s := &Server{
		tokens: map[string]bool{},
		limit:  fakeapi.NewRateLimit(fakeapi.Bucket, DefaultRateLimit, DefaultRatePeriod),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close shuts the server down; later posts are refused.
func (s *Server) Close() {
	s.faults.Release()
	s.srv.Close()
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// NewWebhook registers a webhook with a fresh token and returns its URL.
func (s *Server) NewWebhook() string {
	token := "T" + randomID(8) + "/B" + randomID(8) + "/" + randomID(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = true
	return s.srv.URL + "/services/" + token
}

func randomID(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// SetRateLimit changes the rate limit of every webhook: n posts at once,
// refilled at n per period. Tests that must see a 429 set a long period;
// a period of 0 turns the limit off.
func (s *Server) SetRateLimit(n int, per time.Duration) { s.limit.SetRateLimit(n, per) }

// FailNext answers the next n posts with f, before looking at them. Slack
// answers in plain text, so f.Body is sent as it is, "ok" with a 200 or
// an error string such as "invalid_token"; without a body Slack sends
// none.
func (s *Server) FailNext(n int, f fakeapi.Fault) { s.faults.FailNext(n, f) }

// Received returns the posts accepted so far.
func (s *Server) Received() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.received))
	copy(out, s.received)
	return out
}

// Attempts counts every request, accepted or not.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.count()
	if s.faults.Answer(w, r, func(w http.ResponseWriter, f fakeapi.Fault) { answer(w, f.Status, f.Body) }) {
		return
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/services/")
	if !ok || !s.known(token) {
		answer(w, http.StatusNotFound, "no_service")
		return
	}
	if r.Method != http.MethodPost {
		answer(w, http.StatusMethodNotAllowed, "invalid_method")
		return
	}
	if wait, ok := s.allow(token); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, `{"retry_after":%d,"ok":false,"error":"rate_limited"}`, int(math.Ceil(wait.Seconds())))
		return
	}
	req, status, reason := decode(r)
	if status != http.StatusOK {
		answer(w, status, reason)
		return
	}
	req.Webhook, req.At = token, s.limit.Now()
	s.mu.Lock()
	s.received = append(s.received, req)
	s.mu.Unlock()
	answer(w, http.StatusOK, "ok")
}

// count counts a request, accepted or not.
func (s *Server) count() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
}

func (s *Server) known(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[token]
}

// allow takes a token from the webhook's bucket, or says how long to wait
// for one: a second at least, as Slack counts in seconds.
func (s *Server) allow(token string) (time.Duration, bool) {
	v := s.limit.Admit(token)
	if !v.OK {
		return max(v.Wait, time.Second), false
	}
	return 0, true
}

// decode checks a post as Slack does and returns the decoded request, or
// the status and error string to answer.
func decode(r *http.Request) (Request, int, string) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return Request{}, http.StatusBadRequest, "invalid_payload"
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil || len(body) > MaxBody {
		return Request{}, http.StatusBadRequest, "invalid_payload"
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return Request{}, http.StatusBadRequest, "invalid_payload"
	}
	if strings.TrimSpace(m.Text) == "" && len(m.Attachments) == 0 {
		return Request{}, http.StatusBadRequest, "no_text"
	}
	if !withinLimits(&m) {
		return Request{}, http.StatusBadRequest, "invalid_payload"
	}
	return Request{Message: m, Body: body, Mentions: mentions(&m)}, http.StatusOK, ""
}

func withinLimits(m *Message) bool {
	if utf8.RuneCountInString(m.Text) > MaxText || len(m.Attachments) > MaxAttachments {
		return false
	}
	for _, a := range m.Attachments {
		if utf8.RuneCountInString(a.Text) > MaxText || utf8.RuneCountInString(a.Title) > MaxText {
			return false
		}
	}
	return true
}

// mentionRE matches the control sequences that notify people.
// Slack reads any <@…> as a user and <!subteam^…>, <!here>, <!channel>
// and <!everyone> (each with an optional |label) as groups.
var mentionRE = regexp.MustCompile(`<(?:@[^>]*|!(?:subteam\^|here|channel|everyone)[^>]*)>`)

func mentions(m *Message) []string {
	found := mentionRE.FindAllString(m.Text, -1)
	for _, a := range m.Attachments {
		found = append(found, mentionRE.FindAllString(a.Text, -1)...)
		found = append(found, mentionRE.FindAllString(a.Title, -1)...)
		found = append(found, mentionRE.FindAllString(a.Fallback, -1)...)
		found = append(found, mentionRE.FindAllString(a.Footer, -1)...)
	}
	return found
}

func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

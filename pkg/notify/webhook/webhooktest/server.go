// Package webhooktest is a fake endpoint of the generic webhook channel
// for tests: it checks each request's method, path, headers and content
// type against what it was told to expect, and that a JSON body is JSON;
// records the requests it accepts; and can be told to fail, to answer
// slowly or to drop the connection (fakeapi.Fault).
package webhooktest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"

	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

// Expect is what the fake requires of every request; a zero field
// requires nothing.
type Expect struct {
	// Method is the request's method.
	Method string
	// Path is the request's path, such as "/hook/s3cret".
	Path string
	// ContentType is the media type of Content-Type, parameters aside.
	ContentType string
	// Header holds header values the request must carry, such as a
	// token; a mismatch is answered 401.
	Header map[string]string
}

// Request is a request the fake accepted.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	srv    *httptest.Server
	expect Expect
	faults fakeapi.Faults

	mu       sync.Mutex
	accepted []Request
	seen     int
}

// NewServer starts a fake that accepts requests meeting want. Close it
// when done.
func NewServer(want Expect) *Server {
	s := &Server{expect: want}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// URL is the fake's root, without a trailing slash; append the expected
// path.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the fake, ending any stalled answer first.
func (s *Server) Close() {
	s.faults.Release()
	s.srv.Close()
}

// FailNext answers the next n requests with f, before looking at them:
// a status (429 with f.RetryAfter, 5xx, 4xx), a stall (a slow answer,
// until the client gives up) or a hang-up.
func (s *Server) FailNext(n int, f fakeapi.Fault) { s.faults.FailNext(n, f) }

// Received returns the accepted requests, in order.
func (s *Server) Received() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.accepted)
}

// Seen counts every request that reached the fake, refused and failed
// ones too.
func (s *Server) Seen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen++
	s.mu.Unlock()
	if s.faults.Answer(w, r, writeFault) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if status, problem := s.check(r, body); problem != "" {
		writeError(w, status, problem)
		return
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()
	fakeapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// check returns the status and reason of a request that does not meet
// the expectation, or "".
func (s *Server) check(r *http.Request, body []byte) (int, string) {
	e := s.expect
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case e.Method != "" && r.Method != e.Method:
		return http.StatusMethodNotAllowed, fmt.Sprintf("method %s, want %s", r.Method, e.Method)
	case e.Path != "" && r.URL.Path != e.Path:
		return http.StatusNotFound, "no such hook"
	case err != nil:
		return http.StatusUnsupportedMediaType, fmt.Sprintf("bad Content-Type %q", r.Header.Get("Content-Type"))
	case e.ContentType != "" && mt != e.ContentType:
		return http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %s, want %s", mt, e.ContentType)
	case (mt == "application/json" || strings.HasSuffix(mt, "+json")) && !json.Valid(body):
		return http.StatusBadRequest, "the body is not valid JSON"
	case r.ContentLength != int64(len(body)):
		return http.StatusBadRequest, fmt.Sprintf("Content-Length %d, body of %d bytes", r.ContentLength, len(body))
	}
	for name, want := range e.Header {
		if r.Header.Get(name) != want {
			// A real endpoint does not say what it wanted.
			return http.StatusUnauthorized, fmt.Sprintf("header %s missing or wrong", name)
		}
	}
	return 0, ""
}

// writeFault answers a fault's status with its body, or a JSON error.
func writeFault(w http.ResponseWriter, f fakeapi.Fault) {
	if f.Body == "" {
		writeError(w, f.Status, http.StatusText(f.Status))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, f.Body)
}

func writeError(w http.ResponseWriter, status int, message string) {
	fakeapi.WriteJSON(w, status, map[string]string{"error": message})
}

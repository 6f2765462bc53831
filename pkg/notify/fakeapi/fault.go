package fakeapi

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Fault is an answer a fake gives instead of handling a request.
type Fault struct {
	// Status is the HTTP status. The body is the upstream's for that
	// status unless Body is set.
	Status int
	Body   string
	// RetryAfter, when positive, is sent as the Retry-After header, in
	// seconds rounded up.
	RetryAfter time.Duration
	// Header holds headers sent besides the upstream's.
	Header http.Header
	// HangUp drops the connection without an answer.
	HangUp bool
	// Stall answers nothing until the client gives up or the fake closes.
	Stall bool
}

// Faults is a script of faults, answered first in first out. It is safe
// for concurrent use; the zero value holds none.
type Faults struct {
	queue    Queue[Fault]
	once     sync.Once
	released sync.Once
	release  chan struct{}
}

// FailNext scripts f as the answer to the next n requests.
func (s *Faults) FailNext(n int, f Fault) { s.queue.Add(n, f) }

// Answer answers the request with the next scripted fault, if any, and
// reports whether it did. It hangs up, stalls and sends RetryAfter and
// Header itself; write sends the status and the body, as the upstream
// does.
func (s *Faults) Answer(w http.ResponseWriter, r *http.Request, write func(http.ResponseWriter, Fault)) bool {
	f, ok := s.queue.Next()
	if !ok {
		return false
	}
	switch {
	case f.HangUp:
		HangUp(w)
	case f.Stall:
		select {
		case <-r.Context().Done():
		case <-s.stalls():
		}
	default:
		for k, v := range f.Header {
			w.Header()[k] = v
		}
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
		}
		write(w, f)
	}
	return true
}

// Release ends the stalls, those under way and those to come, so that the
// fake can close: an httptest.Server waits for its handlers.
func (s *Faults) Release() {
	s.released.Do(func() { close(s.stalls()) })
}

func (s *Faults) stalls() chan struct{} {
	s.once.Do(func() { s.release = make(chan struct{}) })
	return s.release
}

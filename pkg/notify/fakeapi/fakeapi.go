// Package fakeapi is what the fakes of the upstream APIs (pagerdutytest,
// opsgenietest, slacktest, discordtest) share: scripted faults
// (FailNext), a rate limit counted by the upstream's rule (SetRateLimit),
// dropping a connection and writing JSON. Each fake keeps what is its
// upstream's own: the bodies it answers and the headers of its limit.
package fakeapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Queue holds injected answers, first in first out. It is safe for
// concurrent use; the zero value is empty.
type Queue[T any] struct {
	mu    sync.Mutex
	items []T
}

// Add queues v n times.
func (q *Queue[T]) Add(n int, v T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for range n {
		q.items = append(q.items, v)
	}
}

// Next takes the oldest item, if any.
func (q *Queue[T]) Next() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var v T
	if len(q.items) == 0 {
		return v, false
	}
	v, q.items = q.items[0], q.items[1:]
	return v, true
}

// Window counts requests per key in a sliding window. It is not safe for
// concurrent use: the fake holds its own lock around Admit.
type Window struct {
	sent map[string][]time.Time
}

// Admit counts one request for key at now and reports whether fewer than
// limit requests of key were admitted in the window per before it. A
// refused request is not counted.
func (w *Window) Admit(key string, limit int, per time.Duration, now time.Time) bool {
	if w.sent == nil {
		w.sent = map[string][]time.Time{}
	}
	recent := slices.DeleteFunc(w.sent[key], func(t time.Time) bool { return now.Sub(t) >= per })
	if len(recent) >= limit {
		w.sent[key] = recent
		return false
	}
	w.sent[key] = append(recent, now)
	return true
}

// HangUp drops the request's connection without an answer. It panics when
// the server cannot hijack connections, as a test server always can.
func HangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic("fakeapi: cannot drop the connection: " + err.Error())
	}
	_ = conn.Close()
}

// WriteJSON answers status with v encoded as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

package receiver

import (
	"net/http"
	"time"
)

// Timeouts bound how long one client can hold a connection of the
// receiver's HTTP server.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers: a client that
	// trickles them (or sends none) is cut off.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included: a body that
	// stops half-way is answered 400 and nothing of it is stored.
	Read time.Duration
	// Write bounds a request from the end of its headers to the end of
	// its answer: a webhook waits for its commit within it.
	Write time.Duration
	// Idle bounds a kept-alive connection between requests.
	Idle time.Duration
}

// DefaultTimeouts are the server's: generous for Alertmanager, whose own
// webhook timeout is shorter, and for a slow browser on the runbook and
// status pages, yet short enough that idle or stalled clients cannot
// pile up.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: time.Minute, Write: 2 * time.Minute, Idle: 2 * time.Minute}

// NewServer is the HTTP server for h, with timeouts t.
func NewServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
	}
}

// Package server is the HTTP server klaxon-exporter and klaxon-receiver both
// run: one set of timeouts, TLS, basic auth and systemd sockets through
// exporter-toolkit's web config, a graceful shutdown, and the health checks.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
)

// Timeouts bound how long one client can hold a connection of the server.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers: a client that
	// trickles them (or sends none) is cut off.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included: a body that
	// stops half-way fails the handler's read with a timeout. It does not
	// bound the handler: net/http lifts the read deadline once the request
	// has been read.
	Read time.Duration
	// Write bounds a request from the end of its headers to the end of
	// its answer, unless the handler sets its own write deadline.
	Write time.Duration
	// Idle bounds a kept-alive connection between requests.
	Idle time.Duration
}

// DefaultTimeouts are both binaries'. They are generous for Alertmanager,
// whose own webhook timeout is shorter, for a slow browser on the runbook,
// status and landing pages, and for Prometheus, whose usual scrape
// intervals (up to a minute) Idle outlasts so that it keeps its connection
// between scrapes; yet they are short enough that idle or stalled clients
// cannot pile up.
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

// Run serves h with timeouts t on the listeners flags names (addresses or
// systemd sockets), with the TLS and basic auth of its web config, until
// ctx ends. Then it stops accepting connections and returns once the
// requests under way are answered.
func Run(ctx context.Context, h http.Handler, flags *web.FlagConfig, t Timeouts, logger *slog.Logger) error {
	srv := NewServer(h, t)
	served := make(chan error, 1)
	go func() { served <- web.ListenAndServe(srv, flags, logger) }()
	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	if err := srv.Shutdown(context.Background()); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// HandleHealth registers the health checks on mux: /-/healthy answers 200
// while the process serves, and /-/ready too unless ready, if set, says
// why not, in which case it answers 503 with the reason.
func HandleHealth(mux *http.ServeMux, ready func() error) {
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				http.Error(w, "Not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "Ready")
	})
}

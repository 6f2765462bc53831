// Package reload keeps a binary's current config and replaces it on SIGHUP
// or POST /-/reload. A config that fails to load is refused and the old one
// stays in force; the reason is logged, returned to the HTTP caller and
// shown by <namespace>_config_last_reload_successful.
package reload

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Loader reads the config afresh.
type Loader[T any] func() (T, error)

// Reloader holds the current value of a config.
type Reloader[T any] struct {
	reloading sync.Mutex
	mu        sync.RWMutex
	current   T
	load      Loader[T]
	onReload  []func(T)
	logger    *slog.Logger

	success   prometheus.Gauge
	timestamp prometheus.Gauge
}

// New loads the config once and returns a Reloader holding it. The metrics
// are registered with reg under subsystem (as in klaxon_exporter_...).
func New[T any](load Loader[T], reg prometheus.Registerer, subsystem string, logger *slog.Logger) (*Reloader[T], error) {
	r := &Reloader[T]{
		load:   load,
		logger: logger,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "klaxon", Subsystem: subsystem, Name: "config_last_reload_successful",
			Help: "1 if the last config load or reload succeeded, 0 if it failed and the previous config is in force.",
		}),
		timestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "klaxon", Subsystem: subsystem, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful config load.",
		}),
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	r.set(v)
	if reg != nil {
		reg.MustRegister(r.success, r.timestamp)
	}
	return r, nil
}

// Get returns the config in force.
func (r *Reloader[T]) Get() T {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current
}

// Reload loads the config again. On error the old config stays in force.
// Reloads run one at a time, so that a SIGHUP and a POST /-/reload at once
// cannot leave the config and what the loader set up from it apart.
func (r *Reloader[T]) Reload() error {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	v, err := r.load()
	if err != nil {
		r.success.Set(0)
		r.logger.Error("config reload failed, keeping the previous config", "err", err)
		return err
	}
	r.set(v)
	for _, fn := range r.onReload {
		fn(v)
	}
	r.logger.Info("config reloaded")
	return nil
}

// OnReload has fn called with each config a reload puts in force, after
// it is in force and before the next reload starts: what was built from
// the first config follows it. Call it before serving reloads.
func (r *Reloader[T]) OnReload(fn func(T)) {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	r.onReload = append(r.onReload, fn)
}

func (r *Reloader[T]) set(v T) {
	r.mu.Lock()
	r.current = v
	r.mu.Unlock()
	r.success.Set(1)
	r.timestamp.Set(float64(time.Now().Unix()))
}

// WatchSignals reloads on every SIGHUP until ctx ends. It subscribes to
// SIGHUP before it returns, so that a SIGHUP sent once the caller goes on
// (right after start-up, say) reloads instead of ending the process.
func (r *Reloader[T]) WatchSignals(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = r.Reload() // logged by Reload
			}
		}
	}()
}

// Handler serves POST /-/reload: 200 when the new config is in force, 500
// with the reason when it was refused.
func (r *Reloader[T]) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost && req.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "use POST to reload the config", http.StatusMethodNotAllowed)
			return
		}
		if err := r.Reload(); err != nil {
			http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "config reloaded")
	})
}

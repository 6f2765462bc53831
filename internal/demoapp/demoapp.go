// Package demoapp is a small web application instrumented with
// pkg/instrument, to try Klaxon's alerts on and to drive the end-to-end
// test. It serves one API route and a health endpoint, and can be told to
// fail, slow down or report itself unhealthy, through its Go API or over
// HTTP:
//
//	GET  /api/items       the application's route: a JSON list, subject to the faults
//	GET  /health          200 {"status":"healthy"}, or 503 {"status":"down"} when stopped
//	GET  /metrics         http_requests_total, http_request_duration_seconds, http_requests_in_flight
//	GET  /control         the faults in force, as JSON
//	POST /control/fail    fail_ratio=R: answer the share R (0 to 1) of API requests with 500
//	POST /control/slow    delay=D: answer API requests D late (a Go duration such as 2.5s)
//	POST /control/health  healthy=false stops the health endpoint, healthy=true restarts it
//
// The control parameters go in the query or a form body; every control
// request answers with the faults now in force. Only /api/ is
// instrumented: health checks, scrapes and control requests are not the
// application's traffic, and counting them would move its error ratio.
package demoapp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/klaxonhq/klaxon/pkg/instrument"
)

// Faults are what the application is told to do wrong.
type Faults struct {
	// FailRatio is the share of API requests answered with 500, 0 to 1.
	FailRatio float64
	// Delay holds every API answer back this long.
	Delay time.Duration
	// Unhealthy makes the health endpoint answer 503 {"status":"down"}.
	Unhealthy bool
}

// MarshalJSON writes the faults as the control endpoints answer them:
// {"fail_ratio":0.5,"delay":"2.5s","unhealthy":false}.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		FailRatio float64 `json:"fail_ratio"`
		Delay     string  `json:"delay"`
		Unhealthy bool    `json:"unhealthy"`
	}{f.FailRatio, f.Delay.String(), f.Unhealthy})
}

// App is the demo application. It is safe for concurrent use.
type App struct {
	handler http.Handler

	mu     sync.Mutex
	faults Faults
	// served and failed count the API requests since FailRatio was last
	// set, so that exactly the asked share fails, spread evenly.
	served, failed int
}

// New returns a healthy application with its own metrics registry.
func New() *App {
	a := &App{}
	reg := prometheus.NewRegistry()
	api := http.NewServeMux()
	api.HandleFunc("GET /api/items", a.items)

	mux := http.NewServeMux()
	mux.Handle("/api/", instrument.New(reg, instrument.Options{}).Wrap(api))
	mux.HandleFunc("GET /health", a.health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /control", a.control(nil))
	mux.HandleFunc("POST /control/fail", a.control(a.controlFail))
	mux.HandleFunc("POST /control/slow", a.control(a.controlSlow))
	mux.HandleFunc("POST /control/health", a.control(a.controlHealth))
	a.handler = mux
	return a
}

// ServeHTTP serves the application, its metrics and its controls.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Faults returns the faults in force.
func (a *App) Faults() Faults {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.faults
}

// SetFailRatio makes the share ratio (0 to 1) of API requests fail with 500.
func (a *App) SetFailRatio(ratio float64) error {
	if !(ratio >= 0 && ratio <= 1) {
		return fmt.Errorf("fail ratio %v is not between 0 and 1", ratio)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.faults.FailRatio = ratio
	a.served, a.failed = 0, 0
	return nil
}

// SetDelay holds every API answer back by d; 0 answers at once.
func (a *App) SetDelay(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("delay %s is negative", d)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.faults.Delay = d
	return nil
}

// SetHealthy starts (true) or stops (false) the health endpoint.
func (a *App) SetHealthy(healthy bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.faults.Unhealthy = !healthy
}

// next decides the fate of one API request.
func (a *App) next() (fail bool, delay time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.served++
	if float64(a.failed) < a.faults.FailRatio*float64(a.served) {
		a.failed++
		fail = true
	}
	return fail, a.faults.Delay
}

func (a *App) items(w http.ResponseWriter, r *http.Request) {
	fail, delay := a.next()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	if fail {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "told to fail"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": []string{"anvil", "rocket skates", "giant magnet"}})
}

func (a *App) health(w http.ResponseWriter, _ *http.Request) {
	if a.Faults().Unhealthy {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "healthy"})
}

// control applies set, if any, to the request's parameters and answers
// with the faults in force, or 400 with what is wrong.
func (a *App) control(set func(*http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if set != nil {
			if err := set(r); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, a.Faults())
	}
}

func (a *App) controlFail(r *http.Request) error {
	ratio, err := strconv.ParseFloat(r.FormValue("fail_ratio"), 64)
	if err != nil {
		return fmt.Errorf("fail_ratio: %w", err)
	}
	return a.SetFailRatio(ratio)
}

func (a *App) controlSlow(r *http.Request) error {
	d, err := time.ParseDuration(r.FormValue("delay"))
	if err != nil {
		return fmt.Errorf("delay: %w", err)
	}
	return a.SetDelay(d)
}

func (a *App) controlHealth(r *http.Request) error {
	healthy, err := strconv.ParseBool(r.FormValue("healthy"))
	if err != nil {
		return fmt.Errorf("healthy: %w", err)
	}
	a.SetHealthy(healthy)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

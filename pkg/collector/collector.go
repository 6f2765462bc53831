// Package collector is the scrape-time collection framework of klaxon-exporter.
//
// A Collector gathers one group of metrics when Prometheus scrapes. Host
// collectors register themselves from init() with a name, a default and a
// factory, which gives each of them a --collector.<name> flag; application
// probes are built from the config file. A Scrape runs them all concurrently
// under the scrape's deadline and reports, for each one,
// klaxon_exporter_collector_success and klaxon_exporter_collector_duration_seconds.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Namespace is the metric namespace of everything Klaxon publishes.
const Namespace = "klaxon"

// Collector collects one group of metrics at scrape time. Update sends const
// metrics to ch and returns when done or when ctx ends. It must not keep ch
// after returning.
type Collector interface {
	Update(ctx context.Context, ch chan<- prometheus.Metric) error
}

// ErrNoData is returned by a collector that has nothing to report on this
// machine (a missing /proc file, say). It is not counted as a failure.
var ErrNoData = errors.New("collector returned no data")

// Factory builds a collector once, at start-up.
type Factory func(logger *slog.Logger) (Collector, error)

type entry struct {
	defaultEnabled bool
	factory        Factory
	enabled        *bool
	setByUser      bool
}

// Registry holds the collectors known at build time and their enable flags.
type Registry struct {
	mu      sync.Mutex
	entries map[string]*entry
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{entries: map[string]*entry{}}
}

// Default is the registry host collectors register with from init().
var Default = NewRegistry()

// Register adds a collector to the Default registry. It panics on a
// duplicate name, which is a programming error.
func Register(name string, defaultEnabled bool, factory Factory) {
	Default.Register(name, defaultEnabled, factory)
}

// Register adds a collector. It panics on a duplicate name.
func (r *Registry) Register(name string, defaultEnabled bool, factory Factory) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[name]; ok {
		panic(fmt.Sprintf("collector %q registered twice", name))
	}
	enabled := defaultEnabled
	r.entries[name] = &entry{defaultEnabled: defaultEnabled, factory: factory, enabled: &enabled}
}

// AddFlags adds --[no-]collector.<name> for every registered collector and
// --collector.disable-defaults to app.
func (r *Registry) AddFlags(app *kingpin.Application) (disableDefaults *bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range r.namesLocked() {
		e := r.entries[name]
		help := fmt.Sprintf("Enable the %s collector (default: %s).", name, onOff(e.defaultEnabled))
		app.Flag("collector."+name, help).Default(fmt.Sprint(e.defaultEnabled)).IsSetByUser(&e.setByUser).BoolVar(e.enabled)
	}
	return app.Flag("collector.disable-defaults",
		"Disable every collector that is not explicitly enabled.").Default("false").Bool()
}

// SetEnabled switches a collector on or off, for tests and callers that do
// not parse flags.
func (r *Registry) SetEnabled(name string, on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[name]
	if !ok {
		return fmt.Errorf("unknown collector %q", name)
	}
	*e.enabled = on
	e.setByUser = true
	return nil
}

// Build instantiates the enabled collectors. With disableDefaults set, only
// collectors switched on explicitly on the command line are built.
func (r *Registry) Build(logger *slog.Logger, disableDefaults bool) (map[string]Collector, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]Collector{}
	var errs []error
	for _, name := range r.namesLocked() {
		e := r.entries[name]
		on := *e.enabled
		if disableDefaults && !e.setByUser {
			on = false
		}
		if !on {
			continue
		}
		c, err := e.factory(logger.With("collector", name))
		if err != nil {
			errs = append(errs, fmt.Errorf("collector %s: %w", name, err))
			continue
		}
		out[name] = c
	}
	return out, errors.Join(errs...)
}

// Names lists the registered collectors, sorted.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.namesLocked()
}

func (r *Registry) namesLocked() []string {
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func onOff(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

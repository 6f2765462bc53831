// Package probe holds klaxon-exporter's application probes: an app's HTTP
// health endpoint, TCP, PostgreSQL and Redis (with job queues). Probes are
// configured in the probes: list of the exporter config and run at scrape
// time, each bounded by its own timeout and by the scrape's deadline.
package probe

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

// prober runs one probe. It sends its type's metrics through e and reports
// whether the target is healthy. An error means the target could not be
// probed at all (unreachable, timed out, garbage answer); it is logged with
// the probe's name.
type prober interface {
	probe(ctx context.Context, e *Emitter) (healthy bool, err error)
}

// CollectorPrefix starts the collector label of every probe in
// klaxon_exporter_collector_success, as in collector="probe:api".
const CollectorPrefix = "probe:"

// Collectors builds one collector per configured probe, keyed by
// CollectorPrefix + name.
func (c *Config) Collectors(logger *slog.Logger) (map[string]collector.Collector, error) {
	out := make(map[string]collector.Collector, len(c.Probes))
	for i := range c.Probes {
		p := &c.Probes[i]
		pr, err := p.kind().newProber(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out[CollectorPrefix+p.Name] = &probeCollector{probe: p, prober: pr, logger: logger.With("probe", p.Name)}
	}
	return out, nil
}

type probeCollector struct {
	probe  *Probe
	prober prober
	logger *slog.Logger
}

// deadlineMargin is kept free before the scrape's deadline so that a timed
// out probe still reports its klaxon_probe_success 0.
const deadlineMargin = 100 * time.Millisecond

func (c *probeCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	timeout := c.probe.Timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d)-deadlineMargin)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	e := newEmitter(ch, c.probe, c.logger)
	begin := time.Now()
	healthy, err := c.prober.probe(ctx, e)
	if err != nil && timedOut(ctx) {
		err = fmt.Errorf("timed out after %s: %w", timeout.Round(time.Millisecond), err)
	}
	e.Gauge("probe_duration_seconds", "How long the probe took, in seconds.", time.Since(begin).Seconds())
	e.Gauge("probe_success", "1 if the probe reached its target and found it healthy, 0 otherwise.",
		boolToFloat(healthy && err == nil))
	if err != nil {
		return fmt.Errorf("%s: %w", c.probe, err)
	}
	if !healthy {
		c.logger.Warn("probe target unhealthy", "type", c.probe.Type())
	}
	return nil
}

// Emitter sends one probe's metrics, every one labelled with the probe's
// name, type and configured labels, and carries the probe's logger for
// problems that do not fail the whole probe.
type Emitter struct {
	ch     chan<- prometheus.Metric
	labels prometheus.Labels
	logger *slog.Logger
}

func newEmitter(ch chan<- prometheus.Metric, p *Probe, logger *slog.Logger) *Emitter {
	labels := prometheus.Labels{"probe": p.Name, "type": p.Type()}
	maps.Copy(labels, p.Labels)
	return &Emitter{ch: ch, labels: labels, logger: logger}
}

// Logger is the probe's logger, already labelled with its name.
func (e *Emitter) Logger() *slog.Logger { return e.logger }

// Gauge sends klaxon_<name> with value. labelPairs are variable label names
// and values, alternating.
func (e *Emitter) Gauge(name, help string, value float64, labelPairs ...string) {
	e.send(prometheus.GaugeValue, name, help, value, labelPairs)
}

// Counter sends klaxon_<name> as a counter.
func (e *Emitter) Counter(name, help string, value float64, labelPairs ...string) {
	e.send(prometheus.CounterValue, name, help, value, labelPairs)
}

func (e *Emitter) send(vt prometheus.ValueType, name, help string, value float64, labelPairs []string) {
	names := make([]string, 0, len(labelPairs)/2)
	values := make([]string, 0, len(labelPairs)/2)
	for i := 0; i+1 < len(labelPairs); i += 2 {
		names = append(names, labelPairs[i])
		values = append(values, labelPairs[i+1])
	}
	desc := prometheus.NewDesc(collector.Namespace+"_"+name, help, names, e.labels)
	m, err := prometheus.NewConstMetric(desc, vt, value, values...)
	if err != nil {
		m = prometheus.NewInvalidMetric(desc, err)
	}
	e.ch <- m
}

// timedOut reports whether ctx's deadline has passed. A driver's own read
// deadline, taken from ctx, can fire a moment before ctx reports Done.
func timedOut(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ctx.Err() != nil || (ok && !time.Now().Before(d))
}

func boolToFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package collector

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	durationDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "exporter", "collector_duration_seconds"),
		"Time the collector or probe took during this scrape.",
		[]string{"collector"}, nil,
	)
	successDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "exporter", "collector_success"),
		"1 if the collector or probe finished without error during this scrape, 0 otherwise.",
		[]string{"collector"}, nil,
	)
)

// Scrape is a prometheus.Collector that runs a set of collectors once,
// concurrently, bounded by ctx. Build one per scrape.
type Scrape struct {
	ctx        context.Context
	collectors map[string]Collector
	logger     *slog.Logger
	results    *Results         // where to keep each run's result, or nil
	now        func() time.Time // the clock, time.Now but in tests
}

// NewScrape returns a Scrape of collectors bounded by ctx.
func NewScrape(ctx context.Context, collectors map[string]Collector, logger *slog.Logger) *Scrape {
	return &Scrape{ctx: ctx, collectors: collectors, logger: logger, now: time.Now}
}

// Describe sends nothing: a Scrape is an unchecked collector, because probes
// change with the config.
func (s *Scrape) Describe(chan<- *prometheus.Desc) {}

// Collect runs every collector and waits for all of them, or for the deadline.
func (s *Scrape) Collect(ch chan<- prometheus.Metric) {
	var wg sync.WaitGroup
	for name, c := range s.collectors {
		wg.Go(func() { s.execute(name, c, ch) })
	}
	wg.Wait()
}

func (s *Scrape) execute(name string, c Collector, ch chan<- prometheus.Metric) {
	begin := s.now()
	err := run(s.ctx, c, ch)
	end := s.now()
	duration := end.Sub(begin)
	logger := s.logger.With("collector", name, "duration_seconds", duration.Seconds())
	result := outcome(err)
	success := 1.0
	switch result {
	case Succeeded:
		logger.Debug("collector succeeded")
	case NoData:
		logger.Debug("collector returned no data", "err", err)
	case Failed:
		success = 0
		logger.Error("collector failed", "err", err)
	}
	if s.results != nil {
		s.results.record(name, Result{Outcome: result, Err: err, End: end, Duration: duration})
	}
	ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, duration.Seconds(), name)
	ch <- prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, success, name)
}

// run calls c.Update and forwards its metrics to ch until Update returns or
// ctx ends. A collector that ignores ctx cannot hold the scrape past the
// deadline: what it sends afterwards is discarded.
func run(ctx context.Context, c Collector, ch chan<- prometheus.Metric) error {
	inner := make(chan prometheus.Metric)
	done := make(chan error, 1)
	go func() {
		done <- c.Update(ctx, inner)
		close(inner)
	}()
	for {
		select {
		case m, ok := <-inner:
			if !ok {
				return <-done
			}
			ch <- m
		case <-ctx.Done():
			go drain(inner)
			return context.Cause(ctx)
		}
	}
}

func drain(ch <-chan prometheus.Metric) {
	for range ch {
	}
}

package hostmetrics

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

func init() {
	collector.Register("process", true, func(*slog.Logger) (collector.Collector, error) {
		return newProcessCollector(), nil
	})
}

// processCollector publishes the exporter's own process_* and go_* metrics
// through client_golang's collectors, which own those conventional names.
type processCollector struct {
	process prometheus.Collector
	goRT    prometheus.Collector
}

func newProcessCollector() *processCollector {
	return &processCollector{
		process: collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		goRT:    collectors.NewGoCollector(),
	}
}

// Update reads /proc/self and the Go runtime. Neither can block for long, so
// ctx is only checked before starting.
func (c *processCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.process.Collect(ch)
	c.goRT.Collect(ch)
	return nil
}

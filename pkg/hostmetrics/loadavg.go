package hostmetrics

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/load"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

var (
	load1Desc  = loadDesc("load1", "1m")
	load5Desc  = loadDesc("load5", "5m")
	load15Desc = loadDesc("load15", "15m")
)

func loadDesc(name, window string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(collector.Namespace, "host", name),
		"Kernel "+window+" load average: runnable and uninterruptible tasks, from /proc/loadavg.", nil, nil)
}

func init() {
	collector.Register("loadavg", true, func(*slog.Logger) (collector.Collector, error) {
		return newLoadavgCollector(flagOptions), nil
	})
}

type loadavgCollector struct {
	paths paths
}

func newLoadavgCollector(o options) *loadavgCollector {
	return &loadavgCollector{paths: newPaths(o)}
}

// Update reads /proc/loadavg (gopsutil falls back to sysinfo(2) without it).
func (c *loadavgCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	avg, err := load.AvgWithContext(c.paths.context(ctx))
	if err != nil {
		return fmt.Errorf("couldn't get load: %w", noData(err))
	}
	ch <- prometheus.MustNewConstMetric(load1Desc, prometheus.GaugeValue, avg.Load1)
	ch <- prometheus.MustNewConstMetric(load5Desc, prometheus.GaugeValue, avg.Load5)
	ch <- prometheus.MustNewConstMetric(load15Desc, prometheus.GaugeValue, avg.Load15)
	return nil
}

package hostmetrics

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
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
	// procPath is the procfs to read, or "" for this machine's own /proc.
	procPath string
}

func newLoadavgCollector(o options) *loadavgCollector {
	c := &loadavgCollector{}
	if p := filepath.Clean(o.procPath); p != defaultOptions().procPath {
		c.procPath = p
	}
	return c
}

// Update reads the load averages. From this machine's /proc, gopsutil reads
// /proc/loadavg and falls back to sysinfo(2) without it, which tells the same
// machine's load. From another procfs, sysinfo(2) would tell the wrong
// machine's, so a loadavg that is missing or cannot be parsed fails the
// collector.
func (c *loadavgCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	avg, err := c.read(ctx)
	if err != nil {
		return err
	}
	ch <- prometheus.MustNewConstMetric(load1Desc, prometheus.GaugeValue, avg.Load1)
	ch <- prometheus.MustNewConstMetric(load5Desc, prometheus.GaugeValue, avg.Load5)
	ch <- prometheus.MustNewConstMetric(load15Desc, prometheus.GaugeValue, avg.Load15)
	return nil
}

func (c *loadavgCollector) read(ctx context.Context) (procfs.LoadAvg, error) {
	if c.procPath == "" {
		avg, err := load.AvgWithContext(ctx)
		if err != nil {
			return procfs.LoadAvg{}, fmt.Errorf("couldn't get load: %w", err)
		}
		return procfs.LoadAvg{Load1: avg.Load1, Load5: avg.Load5, Load15: avg.Load15}, nil
	}
	fs, err := procfs.NewFS(c.procPath)
	if err != nil {
		return procfs.LoadAvg{}, fmt.Errorf("couldn't get load from --path.procfs: %w", err)
	}
	avg, err := fs.LoadAvg()
	if err != nil {
		return procfs.LoadAvg{}, fmt.Errorf("couldn't get load from %s: %w", filepath.Join(c.procPath, "loadavg"), err)
	}
	return *avg, nil
}

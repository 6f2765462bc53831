package hostmetrics

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

var (
	cpuSecondsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(collector.Namespace, "host", "cpu_seconds_total"),
		"Seconds each logical CPU spent in each mode, from /proc/stat.",
		[]string{"cpu", "mode"}, nil,
	)
	cpusDesc = prometheus.NewDesc(
		prometheus.BuildFQName(collector.Namespace, "host", "cpus"),
		"Number of online logical CPUs, counted from the per-CPU lines of /proc/stat.",
		nil, nil,
	)
)

func init() {
	collector.Register("cpu", true, func(*slog.Logger) (collector.Collector, error) {
		return newCPUCollector(flagOptions), nil
	})
}

type cpuCollector struct {
	paths paths
}

func newCPUCollector(o options) *cpuCollector {
	return &cpuCollector{paths: newPaths(o)}
}

// Update reads /proc/stat once and reports the cumulative time per CPU and
// mode. Guest time is already part of user and nice, so it is not repeated.
func (c *cpuCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	times, err := cpu.TimesWithContext(c.paths.context(ctx), true)
	if err != nil {
		return fmt.Errorf("couldn't read cpu times: %w", noData(err))
	}
	if len(times) == 0 {
		return fmt.Errorf("no per-cpu lines in %s: %w", c.paths.procfs("stat"), collector.ErrNoData)
	}
	for _, t := range times {
		id := strings.TrimPrefix(t.CPU, "cpu")
		send := func(mode string, v float64) {
			ch <- prometheus.MustNewConstMetric(cpuSecondsDesc, prometheus.CounterValue, v, id, mode)
		}
		send("user", t.User)
		send("nice", t.Nice)
		send("system", t.System)
		send("idle", t.Idle)
		send("iowait", t.Iowait)
		send("irq", t.Irq)
		send("softirq", t.Softirq)
		send("steal", t.Steal)
	}
	ch <- prometheus.MustNewConstMetric(cpusDesc, prometheus.GaugeValue, float64(len(times)))
	return nil
}

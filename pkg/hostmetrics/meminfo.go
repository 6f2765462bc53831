package hostmetrics

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

func memDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(collector.Namespace, "host", name), help, nil, nil)
}

var (
	memTotalDesc     = memDesc("memory_total_bytes", "Usable RAM: MemTotal in /proc/meminfo.")
	memAvailableDesc = memDesc("memory_available_bytes", "RAM available for new work without swapping: MemAvailable in /proc/meminfo.")
	memUsedDesc      = memDesc("memory_used_bytes", "RAM in use: MemTotal minus MemAvailable.")
	memFreeDesc      = memDesc("memory_free_bytes", "RAM not used for anything, caches included: MemFree in /proc/meminfo.")
	swapTotalDesc    = memDesc("swap_total_bytes", "Swap space: SwapTotal in /proc/meminfo.")
	swapUsedDesc     = memDesc("swap_used_bytes", "Swap space in use: SwapTotal minus SwapFree.")
	swapFreeDesc     = memDesc("swap_free_bytes", "Unused swap space: SwapFree in /proc/meminfo.")
)

func init() {
	collector.Register("meminfo", true, func(*slog.Logger) (collector.Collector, error) {
		return newMeminfoCollector(flagOptions), nil
	})
}

type meminfoCollector struct {
	paths paths
}

func newMeminfoCollector(o options) *meminfoCollector {
	return &meminfoCollector{paths: newPaths(o)}
}

// Update reads /proc/meminfo once. Swap comes from the same file rather than
// from mem.SwapMemory, which would also read /proc/vmstat.
func (c *meminfoCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	vm, err := mem.VirtualMemoryWithContext(c.paths.context(ctx))
	if err != nil {
		return fmt.Errorf("couldn't read memory: %w", noData(err))
	}
	gauge := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(memTotalDesc, vm.Total)
	gauge(memAvailableDesc, vm.Available)
	gauge(memUsedDesc, vm.Used)
	gauge(memFreeDesc, vm.Free)
	gauge(swapTotalDesc, vm.SwapTotal)
	gauge(swapUsedDesc, vm.SwapTotal-min(vm.SwapFree, vm.SwapTotal))
	gauge(swapFreeDesc, vm.SwapFree)
	return nil
}

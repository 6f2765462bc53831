package hostmetrics

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/disk"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

func diskDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(collector.Namespace, "host", "disk_"+name),
		help+", from /proc/diskstats.", []string{"device"}, nil)
}

var (
	diskReadsDesc      = diskDesc("reads_completed_total", "Reads completed")
	diskWritesDesc     = diskDesc("writes_completed_total", "Writes completed")
	diskReadBytesDesc  = diskDesc("read_bytes_total", "Bytes read (512-byte sectors times 512)")
	diskWriteBytesDesc = diskDesc("written_bytes_total", "Bytes written (512-byte sectors times 512)")
	diskReadTimeDesc   = diskDesc("read_time_seconds_total", "Seconds spent by all reads")
	diskWriteTimeDesc  = diskDesc("write_time_seconds_total", "Seconds spent by all writes")
	diskIOTimeDesc     = diskDesc("io_time_seconds_total", "Seconds the device had I/O in flight")
	diskIONowDesc      = diskDesc("io_now", "I/Os in flight now")
)

func init() {
	collector.Register("diskstats", true, func(*slog.Logger) (collector.Collector, error) {
		return newDiskstatsCollector(flagOptions)
	})
}

type diskstatsCollector struct {
	paths   paths
	exclude *regexp.Regexp
}

func newDiskstatsCollector(o options) (*diskstatsCollector, error) {
	exclude, err := compileExclude("collector.diskstats.device-exclude", o.diskExclude)
	if err != nil {
		return nil, err
	}
	return &diskstatsCollector{paths: newPaths(o), exclude: exclude}, nil
}

// Update reads /proc/diskstats once. Devices whose counters are all zero are
// left out (gopsutil skips them).
func (c *diskstatsCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	names, err := c.deviceNames()
	if err != nil {
		return err
	}
	stats, err := disk.IOCountersWithContext(c.paths.context(ctx), names...)
	if err != nil {
		return fmt.Errorf("couldn't read disk stats: %w", noData(err))
	}
	for name, s := range stats {
		if excluded(c.exclude, name) {
			continue
		}
		send := func(d *prometheus.Desc, t prometheus.ValueType, v float64) {
			ch <- prometheus.MustNewConstMetric(d, t, v, name)
		}
		send(diskReadsDesc, prometheus.CounterValue, float64(s.ReadCount))
		send(diskWritesDesc, prometheus.CounterValue, float64(s.WriteCount))
		send(diskReadBytesDesc, prometheus.CounterValue, float64(s.ReadBytes))
		send(diskWriteBytesDesc, prometheus.CounterValue, float64(s.WriteBytes))
		send(diskReadTimeDesc, prometheus.CounterValue, float64(s.ReadTime)/1000)
		send(diskWriteTimeDesc, prometheus.CounterValue, float64(s.WriteTime)/1000)
		send(diskIOTimeDesc, prometheus.CounterValue, float64(s.IoTime)/1000)
		send(diskIONowDesc, prometheus.GaugeValue, float64(s.IopsInProgress))
	}
	return nil
}

// deviceNames lists the block devices in sysfs that the exclusion pattern
// keeps. gopsutil looks up a serial number and a label for every device it
// returns, which costs several file reads each; naming the wanted devices
// spares that work for loop devices, partitions and the like. It returns nil,
// meaning every device, when sysfs cannot be listed.
func (c *diskstatsCollector) deviceNames() ([]string, error) {
	if c.exclude == nil {
		return nil, nil
	}
	entries, err := os.ReadDir(c.paths.sysfs("class", "block"))
	if err != nil {
		return nil, nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !excluded(c.exclude, e.Name()) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("every block device in %s is excluded: %w", c.paths.sysfs("class", "block"), collector.ErrNoData)
	}
	return names, nil
}

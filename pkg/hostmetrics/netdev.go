package hostmetrics

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/net"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

func netDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(collector.Namespace, "host", "network_"+name),
		help+", from /proc/net/dev.", []string{"device"}, nil)
}

var (
	netRxBytesDesc   = netDesc("receive_bytes_total", "Bytes received by the interface")
	netTxBytesDesc   = netDesc("transmit_bytes_total", "Bytes sent by the interface")
	netRxPacketsDesc = netDesc("receive_packets_total", "Packets received by the interface")
	netTxPacketsDesc = netDesc("transmit_packets_total", "Packets sent by the interface")
	netRxErrorsDesc  = netDesc("receive_errors_total", "Receive errors counted by the driver")
	netTxErrorsDesc  = netDesc("transmit_errors_total", "Transmit errors counted by the driver")
	netRxDropDesc    = netDesc("receive_drop_total", "Received packets dropped")
	netTxDropDesc    = netDesc("transmit_drop_total", "Packets dropped before sending")
)

func init() {
	collector.Register("netdev", true, func(*slog.Logger) (collector.Collector, error) {
		return newNetdevCollector(flagOptions)
	})
}

type netdevCollector struct {
	paths   paths
	exclude *regexp.Regexp
}

func newNetdevCollector(o options) (*netdevCollector, error) {
	exclude, err := compileExclude("collector.netdev.device-exclude", o.netdevExclude)
	if err != nil {
		return nil, err
	}
	return &netdevCollector{paths: newPaths(o), exclude: exclude}, nil
}

// Update reads /proc/net/dev once. It is the network namespace of the
// exporter, so in a container run it with the host's network.
func (c *netdevCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	stats, err := net.IOCountersWithContext(c.paths.context(ctx), true)
	if err != nil {
		return fmt.Errorf("couldn't read network devices: %w", noData(err))
	}
	for _, s := range stats {
		if excluded(c.exclude, s.Name) {
			continue
		}
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), s.Name)
		}
		counter(netRxBytesDesc, s.BytesRecv)
		counter(netTxBytesDesc, s.BytesSent)
		counter(netRxPacketsDesc, s.PacketsRecv)
		counter(netTxPacketsDesc, s.PacketsSent)
		counter(netRxErrorsDesc, s.Errin)
		counter(netTxErrorsDesc, s.Errout)
		counter(netRxDropDesc, s.Dropin)
		counter(netTxDropDesc, s.Dropout)
	}
	return nil
}

package hostmetrics

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

// benchmarkCollector measures one Update against this machine.
func benchmarkCollector(b *testing.B, c collector.Collector) {
	b.Helper()
	ch := make(chan prometheus.Metric, 4096)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Update(ctx, ch); err != nil {
			if errors.Is(err, collector.ErrNoData) {
				b.Skip(err)
			}
			b.Fatal(err)
		}
		for len(ch) > 0 {
			<-ch
		}
	}
}

func BenchmarkCollectCPU(b *testing.B) {
	benchmarkCollector(b, newCPUCollector(defaultOptions()))
}

func BenchmarkCollectMeminfo(b *testing.B) {
	benchmarkCollector(b, newMeminfoCollector(defaultOptions()))
}

func BenchmarkCollectLoadavg(b *testing.B) {
	benchmarkCollector(b, newLoadavgCollector(defaultOptions()))
}

func BenchmarkCollectNetdev(b *testing.B) {
	c, err := newNetdevCollector(defaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	benchmarkCollector(b, c)
}

func BenchmarkCollectDiskstats(b *testing.B) {
	c, err := newDiskstatsCollector(defaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	benchmarkCollector(b, c)
}

func BenchmarkCollectFilesystem(b *testing.B) {
	c, err := newFilesystemCollector(defaultOptions(), promslog.NewNopLogger())
	if err != nil {
		b.Fatal(err)
	}
	benchmarkCollector(b, c)
}

func BenchmarkCollectProcess(b *testing.B) {
	benchmarkCollector(b, newProcessCollector())
}

// BenchmarkScrape gathers the collectors that make bench compares with
// node_exporter (cpu, meminfo, filesystem, loadavg, netdev) the way
// klaxon-exporter serves them: one concurrent Scrape into a registry.
func BenchmarkScrape(b *testing.B) {
	all, err := collector.Default.Build(promslog.NewNopLogger(), false)
	if err != nil {
		b.Fatal(err)
	}
	cs := map[string]collector.Collector{}
	for _, name := range []string{"cpu", "meminfo", "filesystem", "loadavg", "netdev"} {
		cs[name] = all[name]
	}
	b.ReportAllocs()
	for b.Loop() {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collector.NewScrape(context.Background(), cs, promslog.NewNopLogger()))
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

package benchcmp_test

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/benchcmp"
	"github.com/klaxonhq/klaxon/internal/testenv"
)

var benchMD = flag.String("benchmd", "", "also write BenchmarkHostScrape's Markdown table to this file")

// hostFlags enable the same host collectors in klaxon-exporter and
// node_exporter, and nothing else.
var hostFlags = []string{
	"--collector.disable-defaults",
	"--collector.cpu", "--collector.meminfo", "--collector.filesystem",
	"--collector.loadavg", "--collector.netdev",
}

// warmUp scrapes each exporter takes before measuring starts, to fill
// caches, connections and heaps.
const warmUp = 20

// BenchmarkHostScrape scrapes klaxon-exporter and node_exporter, running the
// same host collectors, in turns: one iteration is one scrape of each, so
// noise from the rest of the machine falls on both alike. Run it with a
// fixed count, as in -benchtime 200x.
func BenchmarkHostScrape(b *testing.B) {
	klaxon := start(b, "klaxon-exporter", testenv.Binary(b, "klaxon-exporter"))
	node := start(b, "node_exporter", testenv.Program(b, "prometheus-node-exporter"))
	meters := []*benchcmp.Meter{meter(b, klaxon), meter(b, node)}

	turn := 0
	for b.Loop() {
		// Alternate who goes first, so neither always follows the other.
		for i := range meters {
			if err := meters[(turn+i)%len(meters)].Scrape(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
		turn++
	}
	k, n := result(b, meters[0]), result(b, meters[1])
	report(b, k, n)

	table := benchcmp.Markdown(k, n)
	// No leading newline: the testing package cuts benchmark logs at 10 lines.
	b.Log(strings.TrimSuffix(table, "\n"))
	if *benchMD != "" {
		if err := os.WriteFile(*benchMD, []byte(table), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func start(b *testing.B, name, path string) *benchcmp.Exporter {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
	defer cancel()
	e, err := benchcmp.Start(ctx, name, path, testenv.FreeAddr(b), hostFlags...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := e.Stop(); err != nil {
			b.Errorf("stopping %s: %v", name, err)
		}
	})
	return e
}

// meter warms e up and starts measuring it.
func meter(b *testing.B, e *benchcmp.Exporter) *benchcmp.Meter {
	b.Helper()
	for range warmUp {
		if _, err := e.Scrape(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	m, err := benchcmp.NewMeter(e)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func result(b *testing.B, m *benchcmp.Meter) benchcmp.Result {
	b.Helper()
	r, err := m.Result()
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func report(b *testing.B, k, n benchcmp.Result) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mib := func(bytes int64) float64 { return float64(bytes) / (1 << 20) }
	for _, m := range []struct {
		unit   string
		kv, nv float64
	}{
		{"p50-ms", ms(k.Median), ms(n.Median)},
		{"p90-ms", ms(k.P90), ms(n.P90)},
		{"cpu-ms/scrape", ms(k.CPUPerScrape), ms(n.CPUPerScrape)},
		{"peak-rss-MiB", mib(k.PeakRSS), mib(n.PeakRSS)},
		{"series/scrape", k.SeriesPerScrape, n.SeriesPerScrape},
		{"B/scrape", k.BytesPerScrape, n.BytesPerScrape},
	} {
		b.ReportMetric(m.kv, "klaxon-"+m.unit)
		b.ReportMetric(m.nv, "node-"+m.unit)
	}
	b.ReportMetric(benchcmp.Ratio(ms(k.Median), ms(n.Median)), "p50-ratio")
	b.ReportMetric(benchcmp.Ratio(ms(k.CPUPerScrape), ms(n.CPUPerScrape)), "cpu-ratio")
	b.ReportMetric(benchcmp.Ratio(mib(k.PeakRSS), mib(n.PeakRSS)), "rss-ratio")
}

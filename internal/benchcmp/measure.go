package benchcmp

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/internal/testkit"
)

// Meter records the scrapes of one exporter and the CPU time its process
// spends meanwhile.
type Meter struct {
	e       *Exporter
	before  Usage
	samples []Sample
}

// NewMeter starts measuring e from its current CPU time.
func NewMeter(e *Exporter) (*Meter, error) {
	u, err := ReadUsage(e.Pid())
	if err != nil {
		return nil, err
	}
	return &Meter{e: e, before: u}, nil
}

// Scrape scrapes the exporter once and records the sample.
func (m *Meter) Scrape(ctx context.Context) error {
	s, err := m.e.Scrape(ctx)
	if err != nil {
		return err
	}
	m.samples = append(m.samples, s)
	return nil
}

// Result reads the process's usage again and summarises the scrapes so far.
func (m *Meter) Result() (Result, error) {
	u, err := ReadUsage(m.e.Pid())
	if err != nil {
		return Result{}, err
	}
	return Summarize(m.e.Name, m.samples, u.CPU-m.before.CPU, u.PeakRSS)
}

// Result summarises the scrapes of one exporter.
type Result struct {
	Name    string
	Scrapes int
	// Median and P90 are scrape latencies.
	Median, P90  time.Duration
	CPUPerScrape time.Duration
	// PeakRSS is in bytes.
	PeakRSS int64
	// Sizes are means: bytes of the exposition, gzipped bytes sent, and
	// samples in the exposition.
	BytesPerScrape, WirePerScrape, SeriesPerScrape float64
}

// Summarize computes a Result from samples and the CPU time the process
// used while they were taken.
func Summarize(name string, samples []Sample, cpu time.Duration, peakRSS int64) (Result, error) {
	if len(samples) == 0 {
		return Result{}, fmt.Errorf("%s: no scrapes", name)
	}
	latencies := make([]time.Duration, len(samples))
	var bytes, wire, series int64
	for i, s := range samples {
		latencies[i] = s.Latency
		bytes += s.Bytes
		wire += s.WireBytes
		series += int64(s.Series)
	}
	n := len(samples)
	return Result{
		Name:            name,
		Scrapes:         n,
		Median:          testkit.Percentile(latencies, 50),
		P90:             testkit.Percentile(latencies, 90),
		CPUPerScrape:    cpu / time.Duration(n),
		PeakRSS:         peakRSS,
		BytesPerScrape:  float64(bytes) / float64(n),
		WirePerScrape:   float64(wire) / float64(n),
		SeriesPerScrape: float64(series) / float64(n),
	}, nil
}

// Ratio is a / b, or NaN when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// Markdown renders a comparison of a with b as a Markdown table, with the
// ratio a/b in the last column (below 1: a is cheaper).
func Markdown(a, b Result) string {
	type row struct {
		what   string
		av, bv float64
		format string
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	rows := []row{
		{"median scrape latency", ms(a.Median), ms(b.Median), "%.2f ms"},
		{"p90 scrape latency", ms(a.P90), ms(b.P90), "%.2f ms"},
		{"CPU time per scrape", ms(a.CPUPerScrape), ms(b.CPUPerScrape), "%.2f ms"},
		{"peak RSS", mib(a.PeakRSS), mib(b.PeakRSS), "%.1f MiB"},
		{"series per scrape", a.SeriesPerScrape, b.SeriesPerScrape, "%.0f"},
		{"bytes per scrape", a.BytesPerScrape, b.BytesPerScrape, "%.0f B"},
		{"gzipped bytes per scrape", a.WirePerScrape, b.WirePerScrape, "%.0f B"},
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "| %d scrapes each | %s | %s | ratio |\n", a.Scrapes, a.Name, b.Name)
	sb.WriteString("|---|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | "+r.format+" | "+r.format+" | %.2f |\n", r.what, r.av, r.bv, Ratio(r.av, r.bv))
	}
	return sb.String()
}

package benchcmp

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// TestMain lets the test binary stand in for an exporter: with
// BENCHCMP_FAKE set it serves fakeBody instead of running tests. With
// LoadGenEnv set it is the receiver benchmark's load generator.
func TestMain(m *testing.M) {
	if code, ran := LoadGeneratorMain(context.Background(), os.Stdin, os.Stdout, os.Stderr); ran {
		os.Exit(code)
	}
	switch os.Getenv("BENCHCMP_FAKE") {
	case "":
		os.Exit(m.Run())
	case "exit":
		fmt.Fprintln(os.Stderr, "fake exporter: cannot start")
		os.Exit(1)
	case "silent":
		fmt.Fprintln(os.Stderr, "fake exporter: never listening")
		select {}
	default:
		os.Exit(fakeExporter(os.Args[1:]))
	}
}

const fakeBody = "# TYPE fake_up gauge\nfake_up 1\n"

func fakeExporter(args []string) int {
	addr := strings.TrimPrefix(args[0], "--web.listen-address=")
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "msg=starting")
	fmt.Fprintf(os.Stderr, "msg=%q address=%s\n", readyLine, addr)
	err = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gzipped(fakeBody))
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func startFake(t *testing.T, mode string) (*Exporter, error) {
	t.Helper()
	t.Setenv("BENCHCMP_FAKE", mode)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := Start(ctx, "fake", os.Args[0], testenv.FreeAddr(t))
	if err == nil {
		t.Cleanup(func() { e.Stop() })
	}
	return e, err
}

func TestStartScrapeStop(t *testing.T) {
	e, err := startFake(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMeter(e)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := m.Scrape(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range m.samples {
		if s.Latency <= 0 {
			t.Errorf("latency %v, want > 0", s.Latency)
		}
	}
	got, err := m.Result()
	if err != nil {
		t.Fatal(err)
	}
	if got.PeakRSS <= 0 {
		t.Errorf("peak RSS %d, want > 0", got.PeakRSS)
	}
	want := Result{
		Name: "fake", Scrapes: 3, SeriesPerScrape: 1,
		BytesPerScrape: float64(len(fakeBody)), WirePerScrape: float64(len(gzipped(fakeBody))),
	}
	ignore := cmp.FilterPath(func(p cmp.Path) bool {
		switch p.Last().String() {
		case ".Median", ".P90", ".CPUPerScrape", ".PeakRSS":
			return true
		}
		return false
	}, cmp.Ignore())
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}

	pid := e.Pid()
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("after Stop, signalling pid %d: %v, want ESRCH", pid, err)
	}
}

func TestStartFailsWhenProgramExits(t *testing.T) {
	_, err := startFake(t, "exit")
	if err == nil || !strings.Contains(err.Error(), "fake exporter: cannot start") {
		t.Fatalf("Start: %v, want the program's output in the error", err)
	}
}

func TestStartGivesUpWhenContextEnds(t *testing.T) {
	t.Setenv("BENCHCMP_FAKE", "silent")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Start(ctx, "fake", os.Args[0], testenv.FreeAddr(t))
	if err == nil || !strings.Contains(err.Error(), "did not start listening: context canceled") {
		t.Fatalf("Start: %v, want it to give up with the context", err)
	}
}

func TestReadUsage(t *testing.T) {
	got, err := readUsage("testdata/proc/4242")
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{CPU: 18 * time.Second, PeakRSS: 23456 * 1024}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}

func TestReadUsageOfThisProcess(t *testing.T) {
	got, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got.PeakRSS <= 0 {
		t.Errorf("peak RSS %d, want > 0", got.PeakRSS)
	}
}

func TestParseStatErrors(t *testing.T) {
	short, err := os.ReadFile("testdata/stat-short")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no command name", "4242 klaxon S 1", "stat: no command name"},
		{"too few fields", string(short), "stat: 3 fields after the command name, want at least 13"},
		{"not a number", "1 (x) S" + strings.Repeat(" 0", 10) + " 1x 2", `stat: strconv.ParseInt: parsing "1x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseStat([]byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("ParseStat(%q) = %v, want an error starting %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestParseStatusErrors(t *testing.T) {
	noHWM, err := os.ReadFile("testdata/status-no-hwm")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no VmHWM", string(noHWM), "status: no VmHWM line"},
		{"unit", "VmHWM:\t 12 MB\n", "status: malformed VmHWM line"},
		{"not a number", "VmHWM:\t 1x kB\n", `status: strconv.ParseInt: parsing "1x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseStatus([]byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("ParseStatus(%q) = %v, want an error starting %q", tc.in, err, tc.want)
			}
		})
	}
}

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestSummarize(t *testing.T) {
	samples := []Sample{
		{Latency: 4 * time.Millisecond, Bytes: 1000, WireBytes: 100, Series: 10},
		{Latency: 1 * time.Millisecond, Bytes: 1000, WireBytes: 100, Series: 10},
		{Latency: 3 * time.Millisecond, Bytes: 3000, WireBytes: 300, Series: 30},
		{Latency: 2 * time.Millisecond, Bytes: 3000, WireBytes: 300, Series: 31},
	}
	got, err := Summarize("x", samples, 20*time.Millisecond, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{
		Name: "x", Scrapes: 4,
		Median: 2500 * time.Microsecond, P90: 3700 * time.Microsecond,
		CPUPerScrape: 5 * time.Millisecond, PeakRSS: 1 << 20,
		BytesPerScrape: 2000, WirePerScrape: 200, SeriesPerScrape: 20.25,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
	if _, err := Summarize("x", nil, 0, 0); err == nil {
		t.Error("Summarize of no samples: no error")
	}
}

func TestRatio(t *testing.T) {
	if got := Ratio(3, 2); got != 1.5 {
		t.Errorf("Ratio(3, 2) = %v, want 1.5", got)
	}
	if got := Ratio(3, 0); !math.IsNaN(got) {
		t.Errorf("Ratio(3, 0) = %v, want NaN", got)
	}
}

func TestMarkdown(t *testing.T) {
	a := Result{Name: "klaxon-exporter", Scrapes: 200, Median: 2 * time.Millisecond, P90: 3 * time.Millisecond,
		CPUPerScrape: 1500 * time.Microsecond, PeakRSS: 20 << 20, BytesPerScrape: 5000, WirePerScrape: 900, SeriesPerScrape: 80}
	b := Result{Name: "node_exporter", Scrapes: 200, Median: 4 * time.Millisecond, P90: 6 * time.Millisecond,
		CPUPerScrape: 3 * time.Millisecond, PeakRSS: 16 << 20, BytesPerScrape: 10000, WirePerScrape: 1800, SeriesPerScrape: 200}
	want := `| 200 scrapes each | klaxon-exporter | node_exporter | ratio |
|---|---:|---:|---:|
| median scrape latency | 2.00 ms | 4.00 ms | 0.50 |
| p90 scrape latency | 3.00 ms | 6.00 ms | 0.50 |
| CPU time per scrape | 1.50 ms | 3.00 ms | 0.50 |
| peak RSS | 20.0 MiB | 16.0 MiB | 1.25 |
| series per scrape | 80 | 200 | 0.40 |
| bytes per scrape | 5000 B | 10000 B | 0.50 |
| gzipped bytes per scrape | 900 B | 1800 B | 0.50 |
`
	if diff := cmp.Diff(want, Markdown(a, b)); diff != "" {
		t.Errorf("Markdown (-want +got):\n%s", diff)
	}
}

func TestSeriesCounter(t *testing.T) {
	const text = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"#\"} 1\n\na_total{x=\"y\"} 2\nb 3"
	// Written one byte at a time and all at once, the count is the same.
	for _, chunk := range []int{1, len(text)} {
		var c seriesCounter
		for i := 0; i < len(text); i += chunk {
			c.Write([]byte(text[i:min(i+chunk, len(text))]))
		}
		if c.n != 3 {
			t.Errorf("in chunks of %d: %d series, want 3", chunk, c.n)
		}
	}
}

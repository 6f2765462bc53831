package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"
)

var testDesc = prometheus.NewDesc("klaxon_test_value", "A test value.", []string{"v"}, nil)

// fake is a collector whose behaviour each test sets.
type fake struct {
	value float64
	err   error
	// block, when set, makes Update wait for it to close, ignoring ctx,
	// like a collector stuck in a system call.
	block chan struct{}
}

func (f *fake) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	if f.block != nil {
		<-f.block
	}
	if f.err == nil || errors.Is(f.err, ErrNoData) {
		ch <- prometheus.MustNewConstMetric(testDesc, prometheus.GaugeValue, f.value, fmt.Sprint(f.value))
	}
	return f.err
}

func newTestRegistry() *Registry {
	r := NewRegistry()
	for _, name := range []string{"a", "b"} {
		r.Register(name, true, func(*slog.Logger) (Collector, error) { return &fake{}, nil })
	}
	r.Register("c", false, func(*slog.Logger) (Collector, error) { return &fake{}, nil })
	return r
}

func buildWithArgs(t *testing.T, args ...string) []string {
	t.Helper()
	r := newTestRegistry()
	app := kingpin.New("test", "")
	disable := r.AddFlags(app)
	if _, err := app.Parse(args); err != nil {
		t.Fatal(err)
	}
	built, err := r.Build(promslog.NewNopLogger(), *disable)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range built {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func TestRegistryFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"a", "b"}},
		{[]string{"--collector.c"}, []string{"a", "b", "c"}},
		{[]string{"--no-collector.a"}, []string{"b"}},
		{[]string{"--collector.disable-defaults"}, nil},
		{[]string{"--collector.disable-defaults", "--collector.b", "--collector.c"}, []string{"b", "c"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if diff := cmp.Diff(tc.want, buildWithArgs(t, tc.args...)); diff != "" {
				t.Errorf("built collectors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	r := newTestRegistry()
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	r.Register("a", true, nil)
}

func TestBuildReportsFactoryErrors(t *testing.T) {
	r := NewRegistry()
	r.Register("broken", true, func(*slog.Logger) (Collector, error) { return nil, errors.New("no such device") })
	_, err := r.Build(promslog.NewNopLogger(), false)
	if err == nil || err.Error() != "collector broken: no such device" {
		t.Errorf("got %v, want the collector's name and reason", err)
	}
}

func TestScrapeReportsEachCollector(t *testing.T) {
	scrape := NewScrape(context.Background(), map[string]Collector{
		"ok":     &fake{value: 1},
		"broken": &fake{err: errors.New("boom")},
		"absent": &fake{value: 2, err: ErrNoData},
	}, promslog.NewNopLogger())
	want := `
# HELP klaxon_exporter_collector_success 1 if the collector or probe finished without error during this scrape, 0 otherwise.
# TYPE klaxon_exporter_collector_success gauge
klaxon_exporter_collector_success{collector="absent"} 1
klaxon_exporter_collector_success{collector="broken"} 0
klaxon_exporter_collector_success{collector="ok"} 1
`
	if err := testutil.CollectAndCompare(scrape, strings.NewReader(want), "klaxon_exporter_collector_success"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(scrape, "klaxon_exporter_collector_duration_seconds"); n != 3 {
		t.Errorf("got %d duration series, want 3", n)
	}
	if n := testutil.CollectAndCount(scrape, "klaxon_test_value"); n != 2 {
		t.Errorf("got %d values, want the 2 from collectors that did not fail", n)
	}
}

func TestScrapeDeadlineBoundsStuckCollector(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancelCause(context.Background())
	scrape := NewScrape(ctx, map[string]Collector{
		"stuck": &fake{block: release},
		"ok":    &fake{value: 1},
	}, promslog.NewNopLogger())
	cancel(errors.New("scrape deadline reached"))

	// Collect returns although "stuck" never does. Whether "ok" beat the
	// cancelled context is up to the scheduler; the stuck one must be 0.
	if got := successOf(t, scrape, "stuck"); got != 0 {
		t.Errorf("stuck collector success = %v, want 0", got)
	}
}

// successOf collects c and returns klaxon_exporter_collector_success for
// the named collector.
func successOf(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "klaxon_exporter_collector_success" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == name {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no klaxon_exporter_collector_success for %q", name)
	return 0
}

func TestScrapeTimeout(t *testing.T) {
	for _, tc := range []struct {
		header string
		offset time.Duration
		want   time.Duration
	}{
		{"", 0, DefaultScrapeTimeout},
		{"", 500 * time.Millisecond, DefaultScrapeTimeout - 500*time.Millisecond},
		{"4", 500 * time.Millisecond, 3500 * time.Millisecond},
		{"0.25", 0, 250 * time.Millisecond},
		{"0.05", 0, 100 * time.Millisecond},
		{"garbage", 0, DefaultScrapeTimeout},
		{"-3", 0, DefaultScrapeTimeout},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		if got := ScrapeTimeout(h, tc.offset); got != tc.want {
			t.Errorf("ScrapeTimeout(%q, %s) = %s, want %s", tc.header, tc.offset, got, tc.want)
		}
	}
}

func TestHandlerServesCollectorsAndSelf(t *testing.T) {
	self := prometheus.NewRegistry()
	self.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "klaxon_exporter_self", Help: "Self."}))
	calls := 0
	source := func() map[string]Collector {
		calls++
		return map[string]Collector{"ok": &fake{value: 7}}
	}
	h := NewHandler(promslog.NewNopLogger(), HandlerOpts{Self: self}, source)

	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		body := rec.Body.String()
		for _, want := range []string{`klaxon_test_value{v="7"} 7`, `klaxon_exporter_collector_success{collector="ok"} 1`, "klaxon_exporter_self 0"} {
			if !strings.Contains(body, want) {
				t.Errorf("scrape lacks %q:\n%s", want, body)
			}
		}
	}
	if calls != 2 {
		t.Errorf("source asked %d times, want once per scrape (2)", calls)
	}
}

func TestHandlerFailingCollectorDoesNotFailScrape(t *testing.T) {
	h := NewHandler(promslog.NewNopLogger(), HandlerOpts{}, func() map[string]Collector {
		return map[string]Collector{"broken": &fake{err: errors.New("boom")}, "ok": &fake{value: 1}}
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), `klaxon_exporter_collector_success{collector="broken"} 0`) {
		t.Errorf("scrape does not report the failure:\n%s", rec.Body.String())
	}
}

// TestHandlerWriteDeadline checks that /metrics gets no longer to write its
// answer than the scrape timeout Prometheus announced: with no offset the
// collectors use all of it, so the answer comes too late and the
// connection is cut instead.
func TestHandlerWriteDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	for _, tc := range []struct {
		offset time.Duration
		ok     bool
	}{
		{200 * time.Millisecond, true},
		{0, false},
	} {
		h := NewHandler(promslog.NewNopLogger(), HandlerOpts{TimeoutOffset: tc.offset}, func() map[string]Collector {
			return map[string]Collector{"stuck": &fake{block: release}}
		})
		srv := httptest.NewServer(h)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "0.5")
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if got := err == nil && resp.StatusCode == http.StatusOK; got != tc.ok {
			t.Errorf("offset %s: answered: %v (err %v), want %v", tc.offset, got, err, tc.ok)
		}
		srv.Close()
	}
}

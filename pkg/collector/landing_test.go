package collector

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testkit"
)

// TestLandingPageGolden scrapes with a probe that fails the second time
// with an error holding HTML, removes and restores another probe (as
// reloads would), and compares the landing page with
// testdata/landing.html.
func TestLandingPageGolden(t *testing.T) {
	start := time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC)
	api := &fake{value: 1}
	host := map[string]Collector{"cpu": &fake{value: 1}, "netdev": &fake{err: ErrNoData}}
	probes := map[string]Collector{"probe:api": api, "probe:db": &fake{value: 1}}
	hostSource := func() map[string]Collector { return host }
	probeSource := func() map[string]Collector { return probes }

	results := NewResults()
	h := NewHandler(promslog.NewNopLogger(), HandlerOpts{Results: results}, hostSource, probeSource)
	scrapeAt := func(at time.Time) {
		h.now = func() time.Time { return at }
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("scrape: %d", rec.Code)
		}
	}
	scrapeAt(start)
	api.err = errors.New(`Get "http://127.0.0.1:1/health?a=1&b=2": <script>alert("x")</script> connection refused`)
	scrapeAt(start.Add(30 * time.Second))
	probes["probe:new"] = &fake{value: 1}
	delete(probes, "probe:db")
	scrapeAt(start.Add(60 * time.Second)) // forgets db, runs new
	probes["probe:db"] = &fake{value: 1}  // back, not scraped since

	page := NewLandingPage(promslog.NewNopLogger(), LandingOpts{
		Name: "Klaxon Exporter", Description: "Host metrics & application probes",
		Version: "(version=1.2.3)", MetricsPath: "/metrics", DocsURL: "https://example.com/docs/exporter.md?a=1&b=2",
	}, results, hostSource, probeSource)
	page.now = func() time.Time { return start.Add(90 * time.Second) }
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("landing page: %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	testkit.Golden(t, filepath.Join("testdata", "landing.html"), rec.Body.String())
}

func TestLandingPageOnlyAtRoot(t *testing.T) {
	page := NewLandingPage(promslog.NewNopLogger(), LandingOpts{}, NewResults())
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nothing-here", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/nothing-here: %d, want 404", rec.Code)
	}
}

// TestResultsKeepDuration checks that a scrape records how long a
// collector ran, by the scrape's clock: one stuck until the deadline
// fails with it, and its time is from its start to its end. (The clock is
// a fake: the collector starts a little after the deadline was set, so by
// the wall clock it may run a hair less than the deadline.)
func TestResultsKeepDuration(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	const deadline = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	scrape := NewScrape(ctx, map[string]Collector{"stuck": &fake{block: release}}, promslog.NewNopLogger())
	scrape.results = NewResults()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var calls atomic.Int64
	scrape.now = func() time.Time { return start.Add(time.Duration(calls.Add(1)-1) * deadline) }
	successOf(t, scrape, "stuck")
	s, ok := scrape.results.Status("stuck")
	if !ok {
		t.Fatal("no result for the collector that ran")
	}
	if s.Last.Outcome != Failed || !errors.Is(s.Last.Err, context.DeadlineExceeded) || s.Last.Duration != deadline ||
		!s.Last.End.Equal(start.Add(deadline)) || !s.LastSuccess.IsZero() {
		t.Errorf("got %+v, want a failure by the deadline, of %s by the scrape's clock, ending at %s, and no success", s, deadline, start.Add(deadline))
	}
}

func TestFormatTook(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                        "0.0 ms",
		380 * time.Microsecond:   "0.4 ms",
		9120 * time.Microsecond:  "9.1 ms",
		999 * time.Millisecond:   "999.0 ms",
		time.Second:              "1.00 s",
		12345 * time.Millisecond: "12.35 s",
	} {
		if got := formatTook(d); got != want {
			t.Errorf("formatTook(%v) = %q, want %q", d, got, want)
		}
	}
}

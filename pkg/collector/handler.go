package collector

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultScrapeTimeout bounds a scrape that carries no
// X-Prometheus-Scrape-Timeout-Seconds header (curl, say). It is Prometheus's
// own default scrape timeout.
const DefaultScrapeTimeout = 10 * time.Second

// HandlerOpts configures a Handler.
type HandlerOpts struct {
	// TimeoutOffset is taken off the scrape timeout Prometheus announces, to
	// leave time for encoding and the network.
	TimeoutOffset time.Duration
	// Self gathers the exporter's own metrics (build info, process, reloads).
	Self prometheus.Gatherer
	// Results, if set, keeps every collector's last result for the
	// landing page.
	Results *Results
}

// Handler serves /metrics: for each request it runs the collectors that
// Sources returns under the scrape's deadline.
type Handler struct {
	sources []func() map[string]Collector
	logger  *slog.Logger
	opts    HandlerOpts
	now     func() time.Time // the scrapes' clock, time.Now but in tests
}

// NewHandler returns a Handler. Each source is asked for its collectors at
// every scrape, so a reloaded config takes effect at the next scrape.
func NewHandler(logger *slog.Logger, opts HandlerOpts, sources ...func() map[string]Collector) *Handler {
	return &Handler{sources: sources, logger: logger, opts: opts, now: time.Now}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The answer must be written by the time the scraper gives up, which is
	// the whole announced timeout: past it, nobody reads. This bounds a
	// client that stops reading. (Recorders in tests cannot set deadlines.)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(ScrapeTimeout(r.Header, 0)))
	timeout := ScrapeTimeout(r.Header, h.opts.TimeoutOffset)
	ctx, cancel := context.WithTimeoutCause(r.Context(), timeout,
		fmt.Errorf("scrape deadline of %s reached", timeout))
	defer cancel()

	collectors := collect(h.sources)
	if h.opts.Results != nil {
		h.opts.Results.retain(collectors)
	}
	scrape := NewScrape(ctx, collectors, h.logger)
	scrape.results, scrape.now = h.opts.Results, h.now
	reg := prometheus.NewRegistry()
	reg.MustRegister(scrape)

	gatherers := prometheus.Gatherers{reg}
	if h.opts.Self != nil {
		gatherers = append(gatherers, h.opts.Self)
	}
	promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(h.logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP(w, r)
}

// ScrapeTimeout reads Prometheus's X-Prometheus-Scrape-Timeout-Seconds header
// and subtracts offset. Without a usable header it returns
// DefaultScrapeTimeout less offset. The result is never below 100ms.
func ScrapeTimeout(header http.Header, offset time.Duration) time.Duration {
	timeout := DefaultScrapeTimeout
	if v := header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
			timeout = time.Duration(secs * float64(time.Second))
		}
	}
	timeout -= offset
	return max(timeout, 100*time.Millisecond)
}

// collect merges the collectors of every source.
func collect(sources []func() map[string]Collector) map[string]Collector {
	collectors := map[string]Collector{}
	for _, src := range sources {
		maps.Copy(collectors, src())
	}
	return collectors
}

// Package instrument is net/http middleware that records the conventional
// HTTP server metrics the Klaxon rules are written against:
//
//	http_requests_total{method,route,code}              counter
//	http_request_duration_seconds{method,route,code}    histogram
//	http_requests_in_flight                             gauge
//
// The route label is bounded: by default it is the http.ServeMux pattern
// that matched the request, "unmatched" when none did, and "other" once
// Options.MaxRoutes distinct routes have been seen.
package instrument

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// DefaultBuckets are the classic histogram buckets, in seconds. They include
// the 0.5 s, 1 s and 2 s latency thresholds of the Klaxon alerts as exact
// bucket boundaries.
var DefaultBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 2.5, 5, 10}

// DefaultMaxRoutes is the number of distinct route label values recorded
// before further new routes are reported as Other.
const DefaultMaxRoutes = 100

// Options configure a Middleware. The zero value is ready to use.
type Options struct {
	// Buckets are the classic histogram buckets in seconds; nil means
	// DefaultBuckets. Keep 0.5, 1 and 2 among them, or the Klaxon latency
	// rules cannot be evaluated exactly.
	Buckets []float64

	// NativeHistogramBucketFactor, when greater than 1, adds a native
	// histogram with this growth factor (1.1 is a common choice) alongside
	// the classic buckets, limited to 160 buckets per series and reset at
	// most hourly to stay within that. Zero, the default, records classic
	// buckets only.
	NativeHistogramBucketFactor float64

	// RouteFunc returns the route label for a request. It is called after
	// the wrapped handler returned, with the request passed to the
	// middleware. It must return a value from a small, fixed set, such as
	// a router's pattern (never the raw path). Nil means PatternRoute.
	RouteFunc func(*http.Request) string

	// MaxRoutes caps the number of distinct route values; later new values
	// become Other. Zero or less means DefaultMaxRoutes.
	MaxRoutes int
}

// Middleware records HTTP server metrics for the handlers it wraps. It is
// safe for concurrent use, and one Middleware may wrap several handlers.
type Middleware struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	route    func(*http.Request) string
	routes   *routeSet
	series   seriesCache
}

// New creates the metrics and registers them with reg. It panics if they
// are already registered there, as promauto does. A nil reg registers
// nothing, which suits tests of the wrapped handlers.
func New(reg prometheus.Registerer, opts Options) *Middleware {
	f := promauto.With(reg)
	labels := []string{"method", "route", "code"}
	m := &Middleware{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, labels),
		duration: f.NewHistogramVec(histogramOpts(opts), labels),
		inFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being served right now.",
		}),
		route:  opts.RouteFunc,
		routes: newRouteSet(opts.MaxRoutes),
	}
	if m.route == nil {
		m.route = PatternRoute
	}
	return m
}

func histogramOpts(opts Options) prometheus.HistogramOpts {
	h := prometheus.HistogramOpts{
		Name:    "http_request_duration_seconds",
		Help:    "Time from receiving an HTTP request to the handler returning, by method, route pattern and status code.",
		Buckets: opts.Buckets,
	}
	if h.Buckets == nil {
		h.Buckets = DefaultBuckets
	}
	if opts.NativeHistogramBucketFactor > 1 {
		h.NativeHistogramBucketFactor = opts.NativeHistogramBucketFactor
		h.NativeHistogramMaxBucketNumber = 160
		h.NativeHistogramMinResetDuration = time.Hour
	}
	return h
}

// Wrap returns a handler that serves next and records each request. Put it
// directly around the http.ServeMux whose pattern should become the route
// label: the mux sets Request.Pattern on the request it receives, and
// middleware in between that copies the request (WithContext,
// http.StripPrefix) hides the pattern from Wrap.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.serve(next, w, r)
	})
}

func (m *Middleware) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	m.inFlight.Inc()
	rec := &recorder{ResponseWriter: w}
	returned := false
	defer func() {
		m.inFlight.Dec()
		if !returned && !rec.wrote {
			// The handler panicked before writing: the client gets
			// no answer, which counts as a server error.
			rec.status, rec.wrote = http.StatusInternalServerError, true
		}
		m.observe(r, rec.code(), time.Since(start))
	}()
	next.ServeHTTP(rec.wrap(), r)
	returned = true
}

func (m *Middleware) observe(r *http.Request, code int, d time.Duration) {
	method := Method(r.Method)
	route := m.routes.bound(m.route(r))
	s := m.series.get(seriesKey{method, route, code}, m.newSeries)
	s.requests.Inc()
	s.duration.Observe(d.Seconds())
}

func (m *Middleware) newSeries(k seriesKey) series {
	status := codeLabel(k.code)
	return series{
		requests: m.requests.WithLabelValues(k.method, k.route, status),
		duration: m.duration.WithLabelValues(k.method, k.route, status),
	}
}

// seriesKey identifies one label combination. Its route is already
// bounded, so the cache holds at most as many entries as the metrics.
type seriesKey struct {
	method, route string
	code          int
}

// series are the children of the metric vectors for one seriesKey.
type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// seriesCache saves hashing the label values of both vectors on every
// request.
type seriesCache struct {
	mu sync.RWMutex
	m  map[seriesKey]series
}

func (c *seriesCache) get(k seriesKey, create func(seriesKey) series) series {
	c.mu.RLock()
	s, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = create(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[seriesKey]series)
	}
	c.m[k] = s
	return s
}

// codeLabels holds the label values of the valid status codes, so that
// recording a request does not format one.
var codeLabels = func() []string {
	s := make([]string, 1000)
	for i := 100; i < len(s); i++ {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func codeLabel(code int) string {
	if code >= 100 && code < len(codeLabels) {
		return codeLabels[code]
	}
	return strconv.Itoa(code)
}

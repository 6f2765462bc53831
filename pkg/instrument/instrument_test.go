package instrument

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

func newMiddleware(t *testing.T, opts Options) (*Middleware, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return New(reg, opts), reg
}

// serve sends one in-process request through h and returns the status.
func serve(h http.Handler, method, target string) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w.Code
}

func family(t *testing.T, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// requestCounts returns http_requests_total as "METHOD route code" -> value.
func requestCounts(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	mf := family(t, reg, "http_requests_total")
	if mf == nil {
		return got
	}
	for _, m := range mf.GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		got[l["method"]+" "+l["route"]+" "+l["code"]] = m.GetCounter().GetValue()
	}
	return got
}

func ok(http.ResponseWriter, *http.Request) {}

func TestRoutesAndCodes(t *testing.T) {
	m, reg := newMiddleware(t, Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", ok)
	mux.HandleFunc("POST /users", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET example.com/host", ok)
	mux.HandleFunc("GET /items/", ok)
	h := m.Wrap(mux)

	for _, id := range []string{"1", "2", "3", "42", "alice"} {
		serve(h, "GET", "/users/"+id)
	}
	serve(h, "POST", "/users")
	serve(h, "GET", "/fail")
	serve(h, "GET", "http://example.com/host")
	serve(h, "GET", "/items/a/b")
	serve(h, "GET", "/items")         // redirected to /items/
	serve(h, "GET", "/nope")          // no pattern
	serve(h, "GET", "/nope/again")    // no pattern
	serve(h, "DELETE", "/users/1")    // pattern exists for GET only
	serve(h, "GET", "/users/1/extra") // no pattern

	want := map[string]float64{
		"GET /users/{id} 200":  5,
		"POST /users 201":      1,
		"GET /fail 500":        1,
		"GET /host 200":        1,
		"GET /items/ 200":      1,
		"GET /items/ 307":      1,
		"GET unmatched 404":    3,
		"DELETE unmatched 405": 1,
	}
	if diff := cmp.Diff(want, requestCounts(t, reg)); diff != "" {
		t.Errorf("http_requests_total (-want +got):\n%s", diff)
	}
	if n := testutil.CollectAndCount(m.duration); n != len(want) {
		t.Errorf("http_request_duration_seconds has %d series, want %d", n, len(want))
	}
}

func TestNestedMux(t *testing.T) {
	inner := http.NewServeMux()
	inner.HandleFunc("GET /api/users/{id}", ok)
	stripped := http.NewServeMux()
	stripped.HandleFunc("GET /users/{id}", ok)
	outer := http.NewServeMux()
	outer.Handle("/api/", inner)
	outer.Handle("/v2/", http.StripPrefix("/v2", stripped))

	t.Run("same request", func(t *testing.T) {
		m, reg := newMiddleware(t, Options{})
		serve(m.Wrap(outer), "GET", "/api/users/7")
		want := map[string]float64{"GET /api/users/{id} 200": 1}
		if diff := cmp.Diff(want, requestCounts(t, reg)); diff != "" {
			t.Errorf("the inner mux's pattern should win (-want +got):\n%s", diff)
		}
	})
	t.Run("StripPrefix copies the request", func(t *testing.T) {
		m, reg := newMiddleware(t, Options{})
		serve(m.Wrap(outer), "GET", "/v2/users/7")
		want := map[string]float64{"GET /v2/ 200": 1}
		if diff := cmp.Diff(want, requestCounts(t, reg)); diff != "" {
			t.Errorf("the outer mux's pattern should be recorded (-want +got):\n%s", diff)
		}
	})
	t.Run("wrap the inner mux", func(t *testing.T) {
		m, reg := newMiddleware(t, Options{})
		o := http.NewServeMux()
		o.Handle("/v2/", http.StripPrefix("/v2", m.Wrap(stripped)))
		serve(o, "GET", "/v2/users/7")
		want := map[string]float64{"GET /users/{id} 200": 1}
		if diff := cmp.Diff(want, requestCounts(t, reg)); diff != "" {
			t.Errorf("http_requests_total (-want +got):\n%s", diff)
		}
	})
}

func TestPatternRoute(t *testing.T) {
	for pattern, want := range map[string]string{
		"":                         "",
		"/":                        "/",
		"/users/{id}":              "/users/{id}",
		"GET /users/{id}":          "/users/{id}",
		"GET  \t/x/{$}":            "/x/{$}",
		"example.com/":             "/",
		"POST api.example.com/a/b": "/a/b",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Pattern = pattern
		if got := PatternRoute(r); got != want {
			t.Errorf("PatternRoute(%q) = %q, want %q", pattern, got, want)
		}
	}
}

func TestRouteCap(t *testing.T) {
	m, reg := newMiddleware(t, Options{
		MaxRoutes: 3,
		RouteFunc: func(r *http.Request) string {
			if r.URL.Path == "/none" {
				return ""
			}
			return r.URL.Path
		},
	})
	h := m.Wrap(http.HandlerFunc(ok))
	for _, p := range []string{"/a", "/b", "/none", "/c", "/d", "/e", "/a", "/none", "/c", "/f"} {
		serve(h, "GET", p)
	}
	want := map[string]float64{
		"GET /a 200":        2,
		"GET /b 200":        1,
		"GET /c 200":        2,
		"GET other 200":     3,
		"GET unmatched 200": 2,
	}
	if diff := cmp.Diff(want, requestCounts(t, reg)); diff != "" {
		t.Errorf("http_requests_total (-want +got):\n%s", diff)
	}
}

func TestConcurrentRequests(t *testing.T) {
	m, reg := newMiddleware(t, Options{MaxRoutes: 3, RouteFunc: func(r *http.Request) string { return r.URL.Path }})
	h := m.Wrap(http.HandlerFunc(ok))
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				serve(h, "GET", fmt.Sprintf("/r%d", (w+i)%5))
			}
		})
	}
	wg.Wait()
	total, routes := 0.0, 0
	for key, n := range requestCounts(t, reg) {
		total += n
		if key != "GET other 200" {
			routes++
		}
	}
	if total != workers*each {
		t.Errorf("counted %v requests, want %d", total, workers*each)
	}
	if routes != 3 {
		t.Errorf("%d distinct routes besides %q, want the cap of 3: %v", routes, Other, requestCounts(t, reg))
	}
}

func TestRouteInvalidUTF8(t *testing.T) {
	m, reg := newMiddleware(t, Options{RouteFunc: func(*http.Request) string { return "/bad\xff" }})
	serve(m.Wrap(http.HandlerFunc(ok)), "GET", "/")
	want := map[string]float64{"GET /bad\uFFFD 200": 1}
	if diff := cmp.Diff(want, requestCounts(t, reg)); diff != "" {
		t.Errorf("http_requests_total (-want +got):\n%s", diff)
	}
}

func TestMethod(t *testing.T) {
	m, reg := newMiddleware(t, Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("/", ok)
	h := m.Wrap(mux)
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "get", "BREW", "X-" + strings.Repeat("A", 100)} {
		serve(h, method, "/")
	}
	want := map[string]float64{
		"GET / 200":     1,
		"HEAD / 200":    1,
		"POST / 200":    1,
		"PUT / 200":     1,
		"PATCH / 200":   1,
		"DELETE / 200":  1,
		"OPTIONS / 200": 1,
		"TRACE / 200":   1,
		"OTHER / 200":   4,
	}
	if diff := cmp.Diff(want, requestCounts(t, reg)); diff != "" {
		t.Errorf("http_requests_total (-want +got):\n%s", diff)
	}
}

func TestStatusCode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"nothing written", ok, "200"},
		{"body only", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hi") }, "200"},
		{"flush only", func(w http.ResponseWriter, _ *http.Request) { w.(http.Flusher).Flush() }, "200"},
		{"not found", http.NotFound, "404"},
		{"informational first", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNoContent)
		}, "204"},
		{"first code wins", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			w.WriteHeader(http.StatusOK)
		}, "502"},
		{"body then code", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "hi")
			w.WriteHeader(http.StatusTeapot)
		}, "200"},
		{"switching protocols", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusSwitchingProtocols)
		}, "101"},
		{"nonstandard", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(599) }, "599"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, reg := newMiddleware(t, Options{})
			serve(m.Wrap(tc.handler), "GET", "/")
			want := map[string]float64{"GET unmatched " + tc.want: 1}
			if diff := cmp.Diff(want, requestCounts(t, reg)); diff != "" {
				t.Errorf("http_requests_total (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPanicCountsAsServerError(t *testing.T) {
	m, reg := newMiddleware(t, Options{})
	h := m.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the handler's panic did not reach the caller")
			}
		}()
		serve(h, "GET", "/")
	}()
	want := map[string]float64{"GET unmatched 500": 1}
	if diff := cmp.Diff(want, requestCounts(t, reg)); diff != "" {
		t.Errorf("http_requests_total (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(m.inFlight); got != 0 {
		t.Errorf("http_requests_in_flight = %v after a panic, want 0", got)
	}
}

func TestInFlight(t *testing.T) {
	m, reg := newMiddleware(t, Options{})
	entered, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	h := m.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	}))
	inFlight := func() float64 {
		mf := family(t, reg, "http_requests_in_flight")
		if mf == nil || len(mf.GetMetric()) != 1 {
			t.Fatalf("http_requests_in_flight: want one unlabelled series, got %v", mf)
		}
		return mf.GetMetric()[0].GetGauge().GetValue()
	}

	if got := inFlight(); got != 0 {
		t.Fatalf("before any request: in flight = %v, want 0", got)
	}
	go func() {
		defer close(done)
		serve(h, "GET", "/")
	}()
	<-entered
	if got := inFlight(); got != 1 {
		t.Errorf("while the handler blocks: in flight = %v, want 1", got)
	}
	close(release)
	<-done
	if got := inFlight(); got != 0 {
		t.Errorf("after the handler returned: in flight = %v, want 0", got)
	}
}

// bucketBounds returns the classic bucket upper bounds of the first
// http_request_duration_seconds series, and the series' native schema.
func bucketBounds(t *testing.T, reg prometheus.Gatherer) ([]float64, *dto.Histogram) {
	t.Helper()
	mf := family(t, reg, "http_request_duration_seconds")
	if mf == nil || len(mf.GetMetric()) == 0 {
		t.Fatal("http_request_duration_seconds has no series")
	}
	h := mf.GetMetric()[0].GetHistogram()
	var bounds []float64
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	return bounds, h
}

func TestHistogramBuckets(t *testing.T) {
	m, reg := newMiddleware(t, Options{})
	serve(m.Wrap(http.HandlerFunc(ok)), "GET", "/")
	bounds, h := bucketBounds(t, reg)
	for _, threshold := range []float64{0.5, 1, 2} {
		found := false
		for _, b := range bounds {
			found = found || b == threshold
		}
		if !found {
			t.Errorf("no bucket boundary at the %v s alert threshold; bounds %v", threshold, bounds)
		}
	}
	want := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 2.5, 5, 10}
	if diff := cmp.Diff(want, bounds); diff != "" {
		t.Errorf("bucket bounds (-want +got):\n%s", diff)
	}
	if h.Schema != nil {
		t.Errorf("native histogram is on by default (schema %d)", h.GetSchema())
	}
}

func TestNativeHistogram(t *testing.T) {
	m, reg := newMiddleware(t, Options{NativeHistogramBucketFactor: 1.1})
	serve(m.Wrap(http.HandlerFunc(ok)), "GET", "/")
	bounds, h := bucketBounds(t, reg)
	if h.Schema == nil {
		t.Error("NativeHistogramBucketFactor 1.1 gave no native histogram")
	}
	if diff := cmp.Diff(DefaultBuckets, bounds); diff != "" {
		t.Errorf("classic buckets should stay alongside the native ones (-want +got):\n%s", diff)
	}
}

func TestCustomBuckets(t *testing.T) {
	m, reg := newMiddleware(t, Options{Buckets: []float64{0.5, 1, 2}})
	serve(m.Wrap(http.HandlerFunc(ok)), "GET", "/")
	bounds, _ := bucketBounds(t, reg)
	if diff := cmp.Diff([]float64{0.5, 1, 2}, bounds); diff != "" {
		t.Errorf("bucket bounds (-want +got):\n%s", diff)
	}
}

func TestNewRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, Options{})
	defer func() {
		if recover() == nil {
			t.Error("registering the metrics twice in one registry did not panic")
		}
	}()
	New(reg, Options{})
}

func TestNilRegisterer(t *testing.T) {
	m := New(nil, Options{})
	if code := serve(m.Wrap(http.HandlerFunc(http.NotFound)), "GET", "/"); code != http.StatusNotFound {
		t.Errorf("status %d, want 404", code)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("GET", Unmatched, "404")); got != 1 {
		t.Errorf("unregistered counter = %v, want 1", got)
	}
}

// exposition returns the text exposition of reg after a few requests.
func exposition(t *testing.T, opts Options) (string, *prometheus.Registry) {
	t.Helper()
	m, reg := newMiddleware(t, opts)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", ok)
	h := m.Wrap(mux)
	serve(h, "GET", "/users/1")
	serve(h, "GET", "/missing")
	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("/metrics answered %d: %s", w.Code, w.Body)
	}
	return w.Body.String(), reg
}

func TestLint(t *testing.T) {
	_, reg := exposition(t, Options{})
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testenv.Program(t, "promtool")
	text, _ := exposition(t, Options{})
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s\nexposition:\n%s", err, out, text)
	}
	for _, name := range []string{"http_requests_total", "http_request_duration_seconds_bucket", "http_requests_in_flight"} {
		if !strings.Contains(text, "\n"+name) {
			t.Errorf("exposition lacks %s:\n%s", name, text)
		}
	}
}

package instrument_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/klaxonhq/klaxon/pkg/instrument"
)

// Wrap the application's ServeMux once; every route it serves is then
// recorded under its pattern.
func Example() {
	reg := prometheus.NewRegistry()
	m := instrument.New(reg, instrument.Options{})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %s\n", r.PathValue("id"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	handler := m.Wrap(mux)
	// A program would now run: http.ListenAndServe(":8080", handler)

	for _, path := range []string{"/users/1", "/users/2", "/users/3", "/nowhere"} {
		handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}

	w := httptest.NewRecorder()
	handler.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	lines := bufio.NewScanner(w.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "http_requests_total") {
			fmt.Println(lines.Text())
		}
	}
	// Output:
	// http_requests_total{code="200",method="GET",route="/users/{id}"} 3
	// http_requests_total{code="404",method="GET",route="unmatched"} 1
}

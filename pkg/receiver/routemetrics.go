package receiver

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// routeSeries keeps a metric vector's series in step with the configured
// routes: each route's series exists at 0 from the start, so that rate()
// and the dashboard see the first event, and a route a reload removed
// loses its series rather than leaving a stale one behind.
type routeSeries struct {
	vec *prometheus.MetricVec
	// values are the values of the labels after route.
	values []string

	mu     sync.Mutex
	routes map[string]bool
}

// set creates the series of every route in routes and deletes the series
// of the routes set before that routes no longer holds.
func (s *routeSeries) set(routes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]bool, len(routes))
	for _, r := range routes {
		next[r] = true
		// The label values are the vector's own, so this cannot fail.
		_, _ = s.vec.GetMetricWithLabelValues(append([]string{r}, s.values...)...)
	}
	for r := range s.routes {
		if !next[r] {
			s.vec.DeletePartialMatch(prometheus.Labels{"route": r})
		}
	}
	s.routes = next
}

// configuredRoutes returns the names of cfg's routes.
func configuredRoutes(cfg *Config) []string {
	names := make([]string, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		names = append(names, r.Name)
	}
	return names
}

// escalatedRoutes returns the names of cfg's routes that have an
// escalation policy: the routes whose incidents can be acknowledged.
func escalatedRoutes(cfg *Config) []string {
	var names []string
	for _, r := range cfg.Routes {
		if r.EscalationPolicy != "" {
			names = append(names, r.Name)
		}
	}
	return names
}

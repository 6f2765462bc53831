package receiverconfig

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// RouteSeries keeps a metric vector's series in step with the configured
// routes: each route's series exists at 0 from the start, so that rate()
// and the dashboard see the first event, and a route a reload removed
// loses its series rather than leaving a stale one behind.
type RouteSeries struct {
	vec *prometheus.MetricVec
	// values are the values of the labels after route.
	values []string

	mu     sync.Mutex
	routes map[string]bool
}

// NewRouteSeries returns the series of vec, whose first label is route
// and whose other labels take values.
func NewRouteSeries(vec *prometheus.MetricVec, values ...string) *RouteSeries {
	return &RouteSeries{vec: vec, values: values}
}

// Set creates the series of every route in routes and deletes the series
// of the routes set before that routes no longer holds.
func (s *RouteSeries) Set(routes []string) {
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

// RouteNames returns the names of c's routes.
func (c *Config) RouteNames() []string {
	names := make([]string, 0, len(c.Routes))
	for _, r := range c.Routes {
		names = append(names, r.Name)
	}
	return names
}

// EscalatedRouteNames returns the names of c's routes that have an
// escalation policy: the routes whose incidents can be acknowledged.
func (c *Config) EscalatedRouteNames() []string {
	var names []string
	for _, r := range c.Routes {
		if r.EscalationPolicy != "" {
			names = append(names, r.Name)
		}
	}
	return names
}

// DescribeRoutes names c's routes for an error message: "routes a, b",
// or "no routes".
func (c *Config) DescribeRoutes() string {
	if len(c.Routes) == 0 {
		return "no routes"
	}
	return "routes " + strings.Join(c.RouteNames(), ", ")
}

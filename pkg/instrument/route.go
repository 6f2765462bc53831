package instrument

import (
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"
)

// Route label values that do not come from a route pattern.
const (
	// Unmatched is the route of requests no pattern matched (404, 405).
	Unmatched = "unmatched"
	// Other is the route of requests whose route was first seen after
	// Options.MaxRoutes distinct routes had been recorded.
	Other = "other"
)

// OtherMethod is the method label of requests whose method is not one of
// the methods defined by RFC 9110 and RFC 5789.
const OtherMethod = "OTHER"

// PatternRoute returns the path part of the http.ServeMux pattern that
// matched r, without the method and host: "GET example.com/users/{id}"
// gives "/users/{id}". It returns "" when no pattern matched, or when r did
// not go through a ServeMux.
func PatternRoute(r *http.Request) string {
	p := r.Pattern
	if i := strings.IndexAny(p, " \t"); i >= 0 {
		p = strings.TrimLeft(p[i+1:], " \t")
	}
	if i := strings.IndexByte(p, '/'); i > 0 {
		p = p[i:]
	}
	return p
}

// Method returns the method label for an HTTP method: the method itself
// when it is a standard one (case-sensitive, as HTTP methods are), and
// OtherMethod for anything else.
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodConnect,
		http.MethodOptions, http.MethodTrace:
		return m
	}
	return OtherMethod
}

// routeSet bounds the route label: it admits up to limit distinct values and
// maps every later newcomer to Other.
type routeSet struct {
	mu    sync.RWMutex
	seen  map[string]struct{}
	limit int
}

func newRouteSet(limit int) *routeSet {
	if limit <= 0 {
		limit = DefaultMaxRoutes
	}
	return &routeSet{seen: make(map[string]struct{}), limit: limit}
}

// bound returns the label value to record for route.
func (s *routeSet) bound(route string) string {
	switch route {
	case "":
		return Unmatched
	case Unmatched, Other:
		return route
	}
	s.mu.RLock()
	_, ok := s.seen[route]
	s.mu.RUnlock()
	if ok {
		return route
	}
	return s.admit(route)
}

func (s *routeSet) admit(route string) string {
	// Label values must be valid UTF-8, or recording would panic.
	if !utf8.ValidString(route) {
		route = strings.ToValidUTF8(route, "\uFFFD")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[route]; ok {
		return route
	}
	if len(s.seen) >= s.limit {
		return Other
	}
	s.seen[route] = struct{}{}
	return route
}

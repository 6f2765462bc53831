package receiver

import (
	"net/http"
	"testing"
)

// serve builds a Service with opts, closed when the test ends, and
// registers its endpoints on a new mux.
func serve(t *testing.T, opts Options) (*Service, *http.ServeMux) {
	t.Helper()
	svc, err := NewService(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	mux := http.NewServeMux()
	if err := svc.Handler(mux); err != nil {
		t.Fatal(err)
	}
	return svc, mux
}

package receiver

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/klaxonhq/klaxon/internal/receivertest"
	"github.com/klaxonhq/klaxon/runbooks"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"
)

// TestServiceHandler serves the webhook through Service.Handler, as the
// binary does: POST only, runbooks at the receiver's own pages.
func TestServiceHandler(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "receiver.yml")
	receivertest.WriteFile(t, file, `global:
  external_url: http://receiver.example.com/klaxon/
storage:
  path: `+filepath.Join(dir, "data", "receiver.db")+`
routes:
  - name: critical
`)
	_, mux := serve(t, Options{ConfigFile: file, Runbooks: runbooks.FS, Registerer: prometheus.NewRegistry(), Logger: promslog.NewNopLogger()})
	body := receivertest.Encode(t, receivertest.Message("{}:{}", "firing", "a=firing"))
	for _, tc := range []struct {
		method, target string
		code           int
	}{
		{http.MethodGet, "/webhook/critical", http.StatusMethodNotAllowed},
		{http.MethodPut, "/webhook/critical", http.StatusMethodNotAllowed},
		{http.MethodPost, "/webhook/critical", http.StatusOK},
		{http.MethodPost, "/webhook/", http.StatusNotFound},
		{http.MethodGet, "/klaxon/runbooks/higherrorrate", http.StatusOK},
		{http.MethodGet, "/-/reload", http.StatusMethodNotAllowed},
	} {
		a := receivertest.Serve(t, mux, tc.method, tc.target, body, nil)
		if a.Code != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.target, a.Code, a.Raw, tc.code)
		}
	}
	if a := receivertest.Serve(t, mux, http.MethodPost, "/-/reload", nil, nil); a.Code != http.StatusOK {
		t.Errorf("POST /-/reload: %d %s", a.Code, a.Raw)
	}
}

// Package receivertest is what the receiver's tests share: a config in
// force that a test can replace, an incident manager on a real store, a
// valid Alertmanager payload, and a request served to a handler with its
// answer decoded.
package receivertest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/api"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// Current is a config in force that a test may replace, as a reload
// does. It is an incident.Current and an api.Current.
type Current struct {
	rt atomic.Pointer[receiverconfig.Runtime]
}

// Get returns the config in force.
func (c *Current) Get() *receiverconfig.Runtime { return c.rt.Load() }

// Store puts rt in force.
func (c *Current) Store(rt *receiverconfig.Runtime) { c.rt.Store(rt) }

// Set builds cfg and puts it in force.
func (c *Current) Set(t *testing.T, cfg *receiverconfig.Config) {
	t.Helper()
	rt, err := receiverconfig.Build(cfg, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	c.Store(rt)
}

// WakeFunc is a function used as the delivery workers' wake.
type WakeFunc func()

// Wake calls f.
func (f WakeFunc) Wake() { f() }

// NewManager is an incident manager on st that wakes nobody, its metrics
// in a registry of their own, logging to logger.
func NewManager(t *testing.T, st *sqlite.Store, cur incident.Current, logger *slog.Logger) *incident.Manager {
	t.Helper()
	m, err := incident.New(st, cur, WakeFunc(func() {}), prometheus.NewRegistry(), logger)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Answer is an HTTP answer: its status, its JSON body decoded and as
// sent.
type Answer struct {
	Code int
	Resp api.Response
	Raw  string
}

// Serve sends a request to handler and returns its answer, whose body
// must be JSON when it says so.
func Serve(t *testing.T, handler http.Handler, method, target string, body []byte, header http.Header) Answer {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, target, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	a := Answer{Code: rec.Code, Raw: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &a.Resp); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, target, err, a.Raw)
		}
	}
	return a
}

// Start is when Message's alerts start.
var Start = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

// Message is a valid payload of one group with the given alerts, each
// "fingerprint=status".
func Message(groupKey, status string, alerts ...string) *alert.Message {
	m := &alert.Message{
		Version: "4", GroupKey: groupKey, Status: status, Receiver: "klaxon",
		GroupLabels:       map[string]string{"alertname": "HighErrorRate"},
		CommonLabels:      map[string]string{"alertname": "HighErrorRate", "severity": "critical"},
		CommonAnnotations: map[string]string{"runbook_url": "higherrorrate"},
		ExternalURL:       "http://alertmanager:9093",
	}
	for _, a := range alerts {
		fp, st, _ := strings.Cut(a, "=")
		m.Alerts = append(m.Alerts, alert.Alert{
			Status: st, Fingerprint: fp, StartsAt: Start,
			Labels:      map[string]string{"alertname": "HighErrorRate", "severity": "critical", "instance": fp},
			Annotations: map[string]string{"summary": "api answers 5xx", "runbook_url": "higherrorrate"},
		})
	}
	return m
}

// Encode is m as Alertmanager sends it.
func Encode(t *testing.T, m *alert.Message) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteFile writes content to path, or fails the test.
func WriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

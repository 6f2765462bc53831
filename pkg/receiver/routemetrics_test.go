package receiver

import (
	"bytes"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/receivertest"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/runbooks"
)

// routeMetricsConfig has a route without an escalation policy (warning),
// and one (chat) that routeMetricsReload removes; routeMetricsReload
// gives warning a policy and adds database, which has none.
const (
	routeMetricsConfig = `channels:
  - name: pagerduty
    pagerduty:
      routing_key: 0123456789abcdef0123456789abcdef
routes:
  - name: critical
    channels: [pagerduty]
    escalation_policy: default
  - name: chat
    channels: [pagerduty]
    escalation_policy: default
  - name: warning
    channels: [pagerduty]
escalation_policies:
  - name: default
    levels:
      - targets: [{user: alice}]
users:
  - name: alice
`
	routeMetricsReload = `channels:
  - name: pagerduty
    pagerduty:
      routing_key: 0123456789abcdef0123456789abcdef
routes:
  - name: critical
    channels: [pagerduty]
    escalation_policy: default
  - name: warning
    channels: [pagerduty]
    escalation_policy: default
  - name: database
    channels: [pagerduty]
escalation_policies:
  - name: default
    levels:
      - targets: [{user: alice}]
users:
  - name: alice
`
)

// TestRouteMetricsAtZero: a fresh service exports the webhook requests of
// every route (code 200) and the time to acknowledge of every route with
// an escalation policy at 0; a reload adds the new routes' series, drops
// those of a removed route and keeps the counts of the others.
func TestRouteMetricsAtZero(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "receiver.yml")
	storage := "storage:\n  path: " + filepath.Join(dir, "receiver.db") + "\n"
	receivertest.WriteFile(t, file, routeMetricsConfig+storage)
	reg := prometheus.NewRegistry()
	svc, mux := serve(t, Options{ConfigFile: file, Runbooks: runbooks.FS, Registerer: reg, Logger: promslog.NewNopLogger()})
	var out bytes.Buffer
	out.WriteString("# fresh\n")
	writeRouteMetrics(t, &out, reg)

	body := receivertest.Encode(t, receivertest.Message("{}:{}", "firing", "a=firing"))
	for _, route := range []string{"critical", "chat"} {
		if a := receivertest.Serve(t, mux, http.MethodPost, "/webhook/"+route, body, nil); a.Code != http.StatusOK {
			t.Fatalf("webhook %s answered %d: %s", route, a.Code, a.Raw)
		}
	}
	receivertest.WriteFile(t, file, routeMetricsReload+storage)
	if err := svc.Config.Reload(); err != nil {
		t.Fatal(err)
	}
	out.WriteString("# after a request to critical and chat, and a reload without chat\n")
	writeRouteMetrics(t, &out, reg)
	testkit.Golden(t, "testdata/route-metrics.golden", out.String())
}

// writeRouteMetrics writes the per-route metrics gathered from reg in the
// text format.
func writeRouteMetrics(t *testing.T, out *bytes.Buffer, reg *prometheus.Registry) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "klaxon_receiver_time_to_acknowledge_seconds", "klaxon_receiver_webhook_requests_total":
			if _, err := expfmt.MetricFamilyToText(out, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
}

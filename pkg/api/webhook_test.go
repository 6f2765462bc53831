package api_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/receivertest"
	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/api"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/server"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// Secrets of testConfig, which must never show in an answer or a log line.
const (
	secretBearer  = "bearer-s3cret-0001"
	secretRouting = "pd-routing-s3cret-0002"
	secretSlack   = "slack-token-s3cret-0003"
	secretOpsgen  = "opsgenie-key-s3cret-0004"
	secretDiscord = "discord-token-s3cret-0005"
)

var secrets = []string{secretBearer, secretRouting, secretSlack, secretOpsgen, secretDiscord}

// testConfig is a config with routes critical (two channels) and warning
// (one), and a secret for every channel type. extra is added to global.
func testConfig(t *testing.T, extra string) *receiverconfig.Config {
	t.Helper()
	yml := `global:
  external_url: http://receiver.example.com/
` + extra + `
channels:
  - name: pagerduty
    pagerduty: {routing_key: ` + secretRouting + `}
  - name: slack
    slack: {webhook_url: "https://hooks.slack.example.com/services/T0/B0/` + secretSlack + `"}
  - name: opsgenie
    opsgenie: {api_key: ` + secretOpsgen + `}
  - name: discord
    discord: {webhook_url: "https://discord.example.com/api/webhooks/1/` + secretDiscord + `"}
routes:
  - name: critical
    channels: [pagerduty, slack]
  - name: warning
    channels: [slack]
`
	c, err := receiverconfig.Parse("test.yml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// harness is a webhook on a real SQLite store, served through a ServeMux
// with the pattern Service.Handler uses.
type harness struct {
	cfg     receivertest.Current
	store   *sqlite.Store
	path    string
	reg     *prometheus.Registry
	logs    *testenv.Buffer
	wakes   atomic.Int32
	handler http.Handler
}

func newHarness(t *testing.T, cfg *receiverconfig.Config, opts sqlite.Options) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}, path: filepath.Join(t.TempDir(), "data", "receiver.db")}
	h.cfg.Set(t, cfg)
	h.store = openStore(t, h.path, opts)
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := http.NewServeMux()
	mux.Handle("POST /webhook/{route}", api.NewWebhook(&h.cfg, newIncidents(t, h.store, &h.cfg), receivertest.WakeFunc(func() { h.wakes.Add(1) }), h.reg, logger))
	h.handler = mux
	return h
}

// emptyConfig is a config with nothing in it: no routes.
func emptyConfig(t *testing.T) *receiverconfig.Config {
	t.Helper()
	c, err := receiverconfig.Parse("empty.yml", []byte("{}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newIncidents is an incident manager on st, its metrics apart from the
// webhook's.
func newIncidents(t *testing.T, st *sqlite.Store, cur incident.Current) *incident.Manager {
	t.Helper()
	return receivertest.NewManager(t, st, cur, promslog.NewNopLogger())
}

func openStore(t *testing.T, path string, opts sqlite.Options) *sqlite.Store {
	t.Helper()
	opts.Logger = promslog.NewNopLogger()
	st, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func (h *harness) post(t *testing.T, route string, body []byte, header http.Header) receivertest.Answer {
	t.Helper()
	return receivertest.Serve(t, h.handler, http.MethodPost, "/webhook/"+route, body, header)
}

// pending is the number of pending deliveries per channel.
func (h *harness) pending(t *testing.T) map[string]int {
	t.Helper()
	return pendingIn(t, h.store)
}

func pendingIn(t *testing.T, st store.Store) map[string]int {
	t.Helper()
	stats, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, s := range stats {
		if s.Pending > 0 {
			out[s.Channel] = s.Pending
		}
	}
	return out
}

// TestWebhookAccepts follows one group through first, repeated and changed
// notifications, and checks the answers against a golden file and the
// outbox rows in the store.
func TestWebhookAccepts(t *testing.T) {
	h := newHarness(t, testConfig(t, ""), sqlite.Options{})
	const group = `{}/{severity="critical"}:{alertname="HighErrorRate"}`
	steps := []struct {
		name    string
		msg     *alert.Message
		pending map[string]int
		wakes   int32
	}{
		{"first", receivertest.Message(group, "firing", "a=firing"), map[string]int{"pagerduty": 1, "slack": 1}, 1},
		{"repeated", receivertest.Message(group, "firing", "a=firing"), map[string]int{"pagerduty": 1, "slack": 1}, 1},
		{"second alert", receivertest.Message(group, "firing", "a=firing", "b=firing"), map[string]int{"pagerduty": 2, "slack": 2}, 2},
		{"resolved", receivertest.Message(group, "resolved", "a=resolved", "b=resolved"), map[string]int{"pagerduty": 3, "slack": 3}, 3},
		{"resolved again", receivertest.Message(group, "resolved", "a=resolved", "b=resolved"), map[string]int{"pagerduty": 3, "slack": 3}, 3},
	}
	var got strings.Builder
	for _, s := range steps {
		a := h.post(t, "critical", receivertest.Encode(t, s.msg), nil)
		if a.Code != http.StatusOK {
			t.Fatalf("%s: %d %s, want 200", s.name, a.Code, a.Raw)
		}
		fmt.Fprintf(&got, "%s: %d %s", s.name, a.Code, a.Raw)
		if diff := cmp.Diff(s.pending, h.pending(t)); diff != "" {
			t.Errorf("%s: pending deliveries (-want +got):\n%s", s.name, diff)
		}
		if n := h.wakes.Load(); n != s.wakes {
			t.Errorf("%s: the deliverer was woken %d times, want %d", s.name, n, s.wakes)
		}
	}
	testkit.Golden(t, "testdata/webhook-accepts.golden", got.String())
	// The incident key is the one PagerDuty and Opsgenie will see.
	a := h.post(t, "critical", receivertest.Encode(t, receivertest.Message(group, "firing", "a=firing")), nil)
	if want := alert.IncidentKey("critical", group); a.Resp.Incident != want {
		t.Errorf("incident %q, want %q", a.Resp.Incident, want)
	}
	// The same group on another route is another incident.
	if a := h.post(t, "warning", receivertest.Encode(t, receivertest.Message(group, "firing", "a=firing")), nil); a.Code != http.StatusOK || a.Resp.Duplicate || a.Resp.Deliveries != 1 {
		t.Errorf("same group on route warning: %d %s, want 200 with one new delivery", a.Code, a.Raw)
	}
}

// TestWebhookMalformed checks that a payload the receiver cannot take is
// refused with 400 and the field at fault, and recorded nowhere.
func TestWebhookMalformed(t *testing.T) {
	h := newHarness(t, testConfig(t, ""), sqlite.Options{})
	valid := func(edit func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(receivertest.Encode(t, receivertest.Message("{}:{a=\"b\"}", "firing", "a=firing")), &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	firstAlert := func(m map[string]any) map[string]any { return m["alerts"].([]any)[0].(map[string]any) }
	for _, tc := range []struct {
		name  string
		body  []byte
		error string
		field string
	}{
		{"empty body", nil, "empty body: expected an Alertmanager webhook payload", ""},
		{"not JSON", []byte("alerts=1"), "invalid JSON at byte 1: invalid character 'a' looking for beginning of value", ""},
		{"truncated", []byte(`{"version": "4"`), "truncated JSON", ""},
		{"trailing data", append(valid(func(map[string]any) {}), []byte(" {}")...), "trailing data after the JSON object", ""},
		{"version", valid(func(m map[string]any) { m["version"] = "3" }), `version: must be "4" (Alertmanager's webhook version), not "3"`, "version"},
		{"no group key", valid(func(m map[string]any) { delete(m, "groupKey") }), "groupKey: must not be empty", "groupKey"},
		{"status", valid(func(m map[string]any) { m["status"] = "pending" }), `status: must be firing or resolved, not "pending"`, "status"},
		{"no alerts", valid(func(m map[string]any) { m["alerts"] = []any{} }), "alerts: must hold at least one alert", "alerts"},
		{"alerts not a list", valid(func(m map[string]any) { m["alerts"] = "many" }), "alerts: must be an array, not string", "alerts"},
		{"alert without alertname", valid(func(m map[string]any) {
			delete(firstAlert(m)["labels"].(map[string]any), "alertname")
		}), "alerts[0].labels.alertname: must be set", "alerts[0].labels.alertname"},
		{"alert without fingerprint", valid(func(m map[string]any) { firstAlert(m)["fingerprint"] = "" }), "alerts[0].fingerprint: must not be empty", "alerts[0].fingerprint"},
		{"bad timestamp", valid(func(m map[string]any) { firstAlert(m)["startsAt"] = "yesterday" }), `a timestamp is not RFC 3339: "yesterday"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.post(t, "critical", tc.body, nil)
			if a.Code != http.StatusBadRequest {
				t.Fatalf("%d %s, want 400", a.Code, a.Raw)
			}
			got := struct{ Error, Field string }{a.Resp.Error, a.Resp.Field}
			want := struct{ Error, Field string }{tc.error, tc.field}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
	if p := h.pending(t); len(p) != 0 {
		t.Errorf("malformed payloads left deliveries: %v", p)
	}
	if n := h.wakes.Load(); n != 0 {
		t.Errorf("malformed payloads woke the deliverer %d times", n)
	}
}

func TestWebhookUnknownRoute(t *testing.T) {
	h := newHarness(t, testConfig(t, ""), sqlite.Options{})
	a := h.post(t, "criticall", receivertest.Encode(t, receivertest.Message("{}:{}", "firing", "a=firing")), nil)
	want := api.Response{Error: `unknown route "criticall": the config has routes critical, warning`}
	if a.Code != http.StatusNotFound {
		t.Errorf("status %d, want 404", a.Code)
	}
	if diff := cmp.Diff(want, a.Resp); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	h.cfg.Set(t, emptyConfig(t))
	a = h.post(t, "critical", receivertest.Encode(t, receivertest.Message("{}:{}", "firing", "a=firing")), nil)
	if want := `unknown route "critical": the config has no routes`; a.Code != http.StatusNotFound || a.Resp.Error != want {
		t.Errorf("without routes: %d %q, want 404 %q", a.Code, a.Resp.Error, want)
	}
}

// TestWebhookBearerToken checks the token from bearer_token_file, read at
// every request so that a rotated token needs no reload.
func TestWebhookBearerToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	receivertest.WriteFile(t, file, "first-"+secretBearer+"\n")
	h := newHarness(t, testConfig(t, "  bearer_token_file: "+file), sqlite.Options{})
	body := func(i int) []byte {
		return receivertest.Encode(t, receivertest.Message(fmt.Sprintf("{}:{n=%d}", i), "firing", "a=firing"))
	}
	bearer := func(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }
	steps := []struct {
		name   string
		rotate string
		header http.Header
		code   int
	}{
		{"no header", "", nil, http.StatusUnauthorized},
		{"basic auth", "", http.Header{"Authorization": {"Basic Zmlyc3Q6eA=="}}, http.StatusUnauthorized},
		{"wrong token", "", bearer("first-" + secretBearer + "x"), http.StatusUnauthorized},
		{"prefix of the token", "", bearer("first-"), http.StatusUnauthorized},
		{"right token", "", bearer("first-" + secretBearer), http.StatusOK},
		{"old token after rotation", "second-" + secretBearer, bearer("first-" + secretBearer), http.StatusUnauthorized},
		{"new token after rotation", "", bearer("second-" + secretBearer), http.StatusOK},
	}
	for i, s := range steps {
		if s.rotate != "" {
			receivertest.WriteFile(t, file, s.rotate+"\n")
		}
		a := h.post(t, "critical", body(i), s.header)
		if a.Code != s.code {
			t.Errorf("%s: %d %s, want %d", s.name, a.Code, a.Raw, s.code)
		}
		if s.code == http.StatusUnauthorized && a.Resp.Error != "missing or wrong bearer token" {
			t.Errorf("%s: error %q", s.name, a.Resp.Error)
		}
	}
	// An unknown route is not revealed without the token.
	if a := h.post(t, "nope", body(0), nil); a.Code != http.StatusUnauthorized {
		t.Errorf("unknown route without a token: %d %s, want 401", a.Code, a.Raw)
	}
	if diff := cmp.Diff(map[string]int{"pagerduty": 2, "slack": 2}, h.pending(t)); diff != "" {
		t.Errorf("pending deliveries (-want +got):\n%s", diff)
	}
	// A token file that cannot be read refuses everything, as 503: the
	// receiver is broken, the sender is not at fault.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	a := h.post(t, "critical", body(99), bearer("second-"+secretBearer))
	if a.Code != http.StatusServiceUnavailable || a.Resp.Error != "the receiver cannot read its bearer_token_file" {
		t.Errorf("token file gone: %d %s, want 503", a.Code, a.Raw)
	}
	assertNoSecrets(t, h.logs.String())
}

func TestWebhookInlineBearerToken(t *testing.T) {
	h := newHarness(t, testConfig(t, "  bearer_token: "+secretBearer), sqlite.Options{})
	body := receivertest.Encode(t, receivertest.Message("{}:{}", "firing", "a=firing"))
	if a := h.post(t, "critical", body, nil); a.Code != http.StatusUnauthorized || a.Raw == "" {
		t.Errorf("no token: %d %s, want 401", a.Code, a.Raw)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/webhook/critical", bytes.NewReader(body)))
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="klaxon-receiver"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	if a := h.post(t, "critical", body, http.Header{"Authorization": {"Bearer " + secretBearer}}); a.Code != http.StatusOK {
		t.Errorf("right token: %d %s, want 200", a.Code, a.Raw)
	}
}

func TestWebhookTooLarge(t *testing.T) {
	h := newHarness(t, testConfig(t, "  max_body_size: 2KiB"), sqlite.Options{})
	small := receivertest.Encode(t, receivertest.Message("{}:{}", "firing", "a=firing"))
	if a := h.post(t, "critical", small, nil); a.Code != http.StatusOK {
		t.Fatalf("small body: %d %s", a.Code, a.Raw)
	}
	m := receivertest.Message("{}:{big}", "firing", "a=firing")
	m.Alerts[0].Annotations["description"] = strings.Repeat("x", 2048)
	a := h.post(t, "critical", receivertest.Encode(t, m), nil)
	if a.Code != http.StatusRequestEntityTooLarge || a.Resp.Error != "body larger than max_body_size (2048 bytes)" {
		t.Errorf("big body: %d %s, want 413", a.Code, a.Raw)
	}
	if diff := cmp.Diff(map[string]int{"pagerduty": 1, "slack": 1}, h.pending(t)); diff != "" {
		t.Errorf("pending deliveries (-want +got):\n%s", diff)
	}
}

// TestWebhookContentEncoding takes a gzip body as the plain one, and
// refuses, storing nothing, a body that decompresses past max_body_size,
// a corrupt gzip body and an encoding it does not know.
func TestWebhookContentEncoding(t *testing.T) {
	h := newHarness(t, testConfig(t, "  max_body_size: 2KiB"), sqlite.Options{})
	gz := func(body []byte) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write(body); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	plain := receivertest.Encode(t, receivertest.Message("{}:{gzip}", "firing", "a=firing"))
	big := receivertest.Message("{}:{bomb}", "firing", "a=firing")
	big.Alerts[0].Annotations["description"] = strings.Repeat("x", 1<<20)
	bomb := gz(receivertest.Encode(t, big))
	if len(bomb) > 2048 {
		t.Fatalf("the gzip bomb is %d bytes, want it under max_body_size", len(bomb))
	}
	noise := make([]byte, 4096) // does not compress
	_, _ = rand.NewChaCha8([32]byte{}).Read(noise)
	encoding := func(e string) http.Header { return http.Header{"Content-Encoding": {e}} }
	for _, tc := range []struct {
		name   string
		body   []byte
		header http.Header
		code   int
		error  string
	}{
		{"bomb", bomb, encoding("gzip"), http.StatusRequestEntityTooLarge, "gzip body decompresses to more than max_body_size (2048 bytes)"},
		{"too large as sent", gz(noise), encoding("gzip"), http.StatusRequestEntityTooLarge, "body larger than max_body_size (2048 bytes)"},
		{"corrupt", plain, encoding("gzip"), http.StatusBadRequest, "reading gzip body: gzip: invalid header"},
		{"cut short", gz(plain)[:40], encoding("gzip"), http.StatusBadRequest, "reading gzip body: unexpected EOF"},
		{"empty", nil, encoding("gzip"), http.StatusBadRequest, "reading gzip body: empty body"},
		{"unknown", plain, encoding("br"), http.StatusUnsupportedMediaType, `unsupported Content-Encoding "br": the webhook takes gzip or no encoding`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.post(t, "critical", tc.body, tc.header)
			if a.Code != tc.code || a.Resp.Error != tc.error {
				t.Errorf("%d %s, want %d %q", a.Code, a.Raw, tc.code, tc.error)
			}
		})
	}
	if p := h.pending(t); len(p) != 0 {
		t.Fatalf("deliveries pending after refused bodies: %v, want none", p)
	}
	if a := h.post(t, "critical", gz(plain), encoding("GZip")); a.Code != http.StatusOK || a.Resp.Deliveries != 2 {
		t.Errorf("gzip body: %d %s, want 200 with 2 deliveries", a.Code, a.Raw)
	}
	if a := h.post(t, "critical", plain, encoding("identity")); a.Code != http.StatusOK || !a.Resp.Duplicate {
		t.Errorf("the same notification, not compressed: %d %s, want 200 duplicate", a.Code, a.Raw)
	}
	// A 415 says which encoding the webhook takes (RFC 7694).
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/webhook/critical", bytes.NewReader(plain))
	req.Header.Set("Content-Encoding", "br")
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	if got := rec.Header().Get("Accept-Encoding"); got != "gzip" {
		t.Errorf("Accept-Encoding of a 415: %q, want gzip", got)
	}
}

// TestWebhookStoreFull fills the store up: the webhook answers 503 with
// the reason, so that Alertmanager retries; what was accepted stays; and
// once there is room again the same notification is accepted.
func TestWebhookStoreFull(t *testing.T) {
	cfg := testConfig(t, "")
	h := newHarness(t, cfg, sqlite.Options{MaxPageCount: 60})
	big := func(i int) []byte {
		m := receivertest.Message(fmt.Sprintf("{}:{n=%d}", i), "firing", "a=firing")
		m.Alerts[0].Annotations["description"] = strings.Repeat("x", 8<<10)
		return receivertest.Encode(t, m)
	}
	accepted := 0
	var refused receivertest.Answer
	var body []byte
	for i := range 200 {
		body = big(i)
		a := h.post(t, "critical", body, nil)
		if a.Code != http.StatusOK {
			refused = a
			break
		}
		accepted++
	}
	if refused.Code != http.StatusServiceUnavailable {
		t.Fatalf("the store never filled up: %d answers of 200, then %d %s", accepted, refused.Code, refused.Raw)
	}
	if accepted == 0 {
		t.Fatal("nothing fitted in the store")
	}
	const prefix = "cannot store the notification, try again: "
	if !strings.HasPrefix(refused.Resp.Error, prefix) || !strings.Contains(refused.Resp.Error, "database or disk is full") {
		t.Errorf("503 error %q, want %q and SQLite's reason", refused.Resp.Error, prefix)
	}
	want := map[string]int{"pagerduty": accepted, "slack": accepted}
	if diff := cmp.Diff(want, h.pending(t)); diff != "" {
		t.Errorf("pending deliveries of the accepted notifications (-want +got):\n%s", diff)
	}
	if !strings.Contains(h.logs.String(), "cannot store notification; Alertmanager will retry") {
		t.Errorf("the refusal was not logged:\n%s", h.logs.String())
	}

	// The store has no way to lift its limit: open the same file again
	// without one, as a restart after freeing the disk does.
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	roomy := openStore(t, h.path, sqlite.Options{})
	h2 := &harness{reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}, store: roomy}
	h2.cfg.Set(t, cfg)
	mux := http.NewServeMux()
	mux.Handle("POST /webhook/{route}", api.NewWebhook(&h2.cfg, newIncidents(t, roomy, &h2.cfg), receivertest.WakeFunc(func() {}), h2.reg, promslog.NewNopLogger()))
	a := receivertest.Serve(t, mux, http.MethodPost, "/webhook/critical", body, nil)
	if a.Code != http.StatusOK || a.Resp.Duplicate || a.Resp.Deliveries != 2 {
		t.Errorf("the refused notification after recovery: %d %s, want 200 with 2 deliveries", a.Code, a.Raw)
	}
	want = map[string]int{"pagerduty": accepted + 1, "slack": accepted + 1}
	if diff := cmp.Diff(want, pendingIn(t, roomy)); diff != "" {
		t.Errorf("pending deliveries after recovery (-want +got):\n%s", diff)
	}
}

// TestWebhookMetrics counts requests by route and code, with the route
// "unknown" for names not in the config, so that a scan of random paths
// cannot create series; every configured route has code 200 from the start.
func TestWebhookMetrics(t *testing.T) {
	h := newHarness(t, testConfig(t, "  max_body_size: 1KiB"), sqlite.Options{})
	ok := receivertest.Encode(t, receivertest.Message("{}:{}", "firing", "a=firing"))
	h.post(t, "critical", ok, nil)
	h.post(t, "critical", ok, nil)
	h.post(t, "warning", []byte("{"), nil)
	h.post(t, "random-1", ok, nil)
	h.post(t, "random-2", ok, nil)
	h.post(t, "warning", bytes.Repeat([]byte(" "), 2048), nil)
	want := `# HELP klaxon_receiver_webhook_requests_total Webhook requests from Alertmanager, by route and HTTP status code; route is "unknown" for routes not in the config.
# TYPE klaxon_receiver_webhook_requests_total counter
klaxon_receiver_webhook_requests_total{code="200",route="critical"} 2
klaxon_receiver_webhook_requests_total{code="200",route="warning"} 0
klaxon_receiver_webhook_requests_total{code="400",route="warning"} 1
klaxon_receiver_webhook_requests_total{code="404",route="unknown"} 2
klaxon_receiver_webhook_requests_total{code="413",route="warning"} 1
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), "klaxon_receiver_webhook_requests_total"); err != nil {
		t.Error(err)
	}
}

// TestWebhookNoSecrets runs every kind of answer and checks that no secret
// of the config shows in an answer or a log line.
func TestWebhookNoSecrets(t *testing.T) {
	h := newHarness(t, testConfig(t, "  bearer_token: "+secretBearer+"\n  max_body_size: 4KiB"), sqlite.Options{MaxPageCount: 60})
	auth := http.Header{"Authorization": {"Bearer " + secretBearer}}
	wrong := http.Header{"Authorization": {"Bearer " + secretBearer + "-wrong"}}
	var bodies strings.Builder
	record := func(a receivertest.Answer) { fmt.Fprintf(&bodies, "%d %s\n", a.Code, a.Raw) }
	record(h.post(t, "critical", receivertest.Encode(t, receivertest.Message("{}:{}", "firing", "a=firing")), auth))
	record(h.post(t, "critical", receivertest.Encode(t, receivertest.Message("{}:{}", "firing", "a=firing")), auth))
	record(h.post(t, "critical", nil, wrong))
	record(h.post(t, "nope", nil, auth))
	record(h.post(t, "critical", []byte(`{"version":"3"}`), auth))
	record(h.post(t, "critical", bytes.Repeat([]byte("x"), 8<<10), auth))
	for i := range 100 {
		m := receivertest.Message(fmt.Sprintf("{}:{n=%d}", i), "firing", "a=firing")
		m.Alerts[0].Annotations["description"] = strings.Repeat("y", 3<<10)
		a := h.post(t, "critical", receivertest.Encode(t, m), auth)
		if a.Code != http.StatusOK {
			record(a)
			break
		}
	}
	got := bodies.String()
	for _, code := range []string{"200", "401", "404", "400", "413", "503"} {
		if !strings.Contains(got, "\n"+code+" ") && !strings.HasPrefix(got, code+" ") {
			t.Errorf("no answer %s in the run:\n%s", code, got)
		}
	}
	assertNoSecrets(t, got)
	assertNoSecrets(t, h.logs.String())
}

func assertNoSecrets(t *testing.T, text string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("secret %q leaked:\n%s", s, text)
		}
	}
}

// TestServerRefusesStalledBody shows the receiver behind the server both
// binaries run: a webhook whose body stops half-way is answered 400 and
// nothing of it is stored. pkg/server tests the other timeouts.
func TestServerRefusesStalledBody(t *testing.T) {
	h := newHarness(t, testConfig(t, ""), sqlite.Options{})
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = server.NewServer(h.handler, server.Timeouts{ReadHeader: time.Minute, Read: 300 * time.Millisecond, Write: time.Minute, Idle: time.Minute})
	srv.Start()
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Past 20 s, the server never answered.
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	body := receivertest.Encode(t, receivertest.Message(`{}:{alertname="A"}`, "firing", "a=firing"))
	head := fmt.Sprintf("POST /webhook/critical HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(conn, head+string(body[:len(body)/2])); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a body that stops half-way got no answer: %v", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(got), "reading body") || !strings.Contains(string(got), "timeout") {
		t.Errorf("a body that stops half-way: %d %s, want 400 naming the body and the timeout", resp.StatusCode, got)
	}
	if p := h.pending(t); len(p) != 0 {
		t.Errorf("deliveries pending after a cut-off body: %v, want none", p)
	}
}

package receiver

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	_ "modernc.org/sqlite"

	"github.com/klaxonhq/klaxon/internal/receivertest"
	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/pkg/server"
	"github.com/klaxonhq/klaxon/runbooks"
)

// unavailableConfig is a route critical to one Slack channel, with the
// store in the directory named.
const unavailableConfig = `channels:
  - name: slack
    slack:
      webhook_url: %q
routes:
  - name: critical
    channels: [slack]
storage:
  path: %q
`

// TestReadOnlyAfterStop stops a receiver cleanly with a delivery pending,
// which leaves no write-ahead log behind, makes its data directory
// read-only and starts it again. It must keep running: healthy, not
// ready and saying why, 503 on the webhook, the API and the status page,
// and the error logged once however often it retries. Once the directory
// is writable it must open the store by itself, deliver what it had
// accepted before the stop and take notifications again.
func TestReadOnlyAfterStop(t *testing.T) {
	slack := slacktest.NewServer()
	t.Cleanup(slack.Close)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	file := filepath.Join(dir, "receiver.yml")
	receivertest.WriteFile(t, file, fmt.Sprintf(unavailableConfig, slack.NewWebhook(), filepath.Join(data, "receiver.db")))
	opts := Options{ConfigFile: file, Runbooks: runbooks.FS, Registerer: prometheus.NewRegistry(), Logger: promslog.NewNopLogger()}

	first, err := NewService(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	firstMux := http.NewServeMux()
	if err := first.Handler(firstMux); err != nil {
		t.Fatal(err)
	}
	post(t, firstMux, "stopped", http.StatusOK)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	writable := testenv.ReadOnlyDir(t, data)
	logs := &testenv.Buffer{}
	reg := prometheus.NewRegistry()
	opts.Registerer, opts.Logger = reg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := NewService(t.Context(), opts)
	if err != nil {
		t.Fatalf("starting on a read-only data directory: %v, want a receiver answering 503", err)
	}
	mux := http.NewServeMux()
	if err := svc.Handler(mux); err != nil {
		t.Fatal(err)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	server.HandleHealth(mux, svc.Ready)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		svc.Close()
	})

	const reason = "opening the store: starting the schema adoption: store unavailable: unable to open database file"
	post(t, mux, "refused", http.StatusServiceUnavailable, reason)
	for _, tc := range []struct {
		method, target string
		code           int
		body           string
	}{
		{http.MethodGet, "/-/healthy", http.StatusOK, "Healthy"},
		{http.MethodGet, "/-/ready", http.StatusServiceUnavailable, "Not ready: " + reason},
		{http.MethodGet, "/metrics", http.StatusOK, "klaxon_receiver_config_last_reload_successful 1"},
		{http.MethodGet, "/metrics", http.StatusOK, "klaxon_receiver_store_writable 0"},
		{http.MethodGet, "/runbooks/higherrorrate", http.StatusOK, "HighErrorRate"},
		{http.MethodGet, "/api/v1/incidents", http.StatusServiceUnavailable, `{"error":"` + reason},
		{http.MethodGet, "/", http.StatusServiceUnavailable, reason},
	} {
		a := receivertest.Serve(t, mux, tc.method, tc.target, nil, nil)
		if a.Code != tc.code || !strings.Contains(a.Raw, tc.body) {
			t.Errorf("%s %s while read-only: %d %q, want %d with %q", tc.method, tc.target, a.Code, a.Raw, tc.code, tc.body)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := strings.Count(logs.String(), "store still unavailable"); n < 2 {
			return fmt.Errorf("%d retries so far, want 2", n)
		}
		return nil
	})
	if n := strings.Count(logs.String(), "store unavailable; answering 503"); n != 1 {
		t.Errorf("the store's error was logged %d times over several retries, want once:\n%s", n, logs)
	}

	writable()
	testenv.Eventually(t, 10*time.Second, func() error {
		if a := receivertest.Serve(t, mux, http.MethodGet, "/-/ready", nil, nil); a.Code != http.StatusOK {
			return fmt.Errorf("/-/ready: %d %s", a.Code, a.Raw)
		}
		return nil
	})
	if !strings.Contains(logs.String(), "store open; taking notifications") {
		t.Errorf("no word of the store's opening in the logs:\n%s", logs)
	}
	if a := receivertest.Serve(t, mux, http.MethodGet, "/metrics", nil, nil); !strings.Contains(a.Raw, "klaxon_receiver_store_writable 1") {
		t.Errorf("klaxon_receiver_store_writable once the store is open: want 1 in\n%s", a.Raw)
	}
	post(t, mux, "refused", http.StatusOK)
	// The notification accepted before the stop and the one after, maybe
	// in one digest.
	testenv.Eventually(t, 10*time.Second, func() error {
		var shown int
		for _, r := range slack.Received() {
			shown += len(summaries(r))
		}
		if shown != 2 {
			return fmt.Errorf("Slack has shown %d notifications, want 2", shown)
		}
		return nil
	})
	if a := receivertest.Serve(t, mux, http.MethodGet, "/", nil, nil); a.Code != http.StatusOK {
		t.Errorf("status page once the store is open: %d %s, want 200", a.Code, a.Raw)
	}
}

// TestUnavailableStoreAsksForTheToken: while the store cannot be opened,
// the webhook and the API refuse a caller without the bearer token with
// 401, as they do once it is open, and tell only a caller with the token
// why the store is not open.
func TestUnavailableStoreAsksForTheToken(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	file := filepath.Join(dir, "receiver.yml")
	receivertest.WriteFile(t, file, fmt.Sprintf("global:\n  bearer_token: s3cret\nroutes:\n  - name: critical\nstorage:\n  path: %q\n", filepath.Join(data, "receiver.db")))
	opts := Options{ConfigFile: file, Runbooks: runbooks.FS, Registerer: prometheus.NewRegistry(), Logger: promslog.NewNopLogger()}
	first, err := NewService(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.ReadOnlyDir(t, data)
	opts.Registerer = prometheus.NewRegistry()
	_, mux := serve(t, opts)
	body := receivertest.Encode(t, receivertest.Message("{}:{}", "firing", "a=firing"))
	token := http.Header{"Authorization": {"Bearer s3cret"}}
	for _, tc := range []struct {
		method, target string
		header         http.Header
		code           int
		body           string
	}{
		{http.MethodPost, "/webhook/critical", nil, http.StatusUnauthorized, `{"error":"missing or wrong bearer token"`},
		{http.MethodGet, "/api/v1/incidents", nil, http.StatusUnauthorized, `{"error":"missing or wrong bearer token"`},
		{http.MethodPost, "/webhook/critical", token, http.StatusServiceUnavailable, "unable to open database file"},
		{http.MethodGet, "/api/v1/incidents", token, http.StatusServiceUnavailable, "unable to open database file"},
	} {
		a := receivertest.Serve(t, mux, tc.method, tc.target, body, tc.header)
		if a.Code != tc.code || !strings.Contains(a.Raw, tc.body) {
			t.Errorf("%s %s (token %v) while the store is not open: %d %q, want %d with %q", tc.method, tc.target, tc.header != nil, a.Code, a.Raw, tc.code, tc.body)
		}
	}
}

// post posts a firing notification of one alert, instance, and wants the
// answer code, with words in its error.
func post(t *testing.T, h http.Handler, instance string, code int, words ...string) {
	t.Helper()
	msg := receivertest.Message("{}:{instance=\""+instance+"\"}", "firing", instance+"=firing")
	a := receivertest.Serve(t, h, http.MethodPost, "/webhook/critical", receivertest.Encode(t, msg), nil)
	if a.Code != code {
		t.Fatalf("webhook for %s: %d %s, want %d", instance, a.Code, a.Raw, code)
	}
	for _, w := range words {
		if !strings.Contains(a.Resp.Error, w) {
			t.Errorf("webhook for %s: %q, want it to say %q", instance, a.Resp.Error, w)
		}
	}
}

// TestStoreFaultsAtStart fails NewService when the store cannot be opened
// for a reason a retry cannot mend: a path SQLite refuses, a data
// directory below a file, a database written by a newer release.
func TestStoreFaultsAtStart(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	db, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')));
		INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1), (999, 1)`)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "what?.db"), "must not contain '?'"},
		{filepath.Join(newer, "data", "receiver.db"), "creating the data directory: mkdir " + newer + ": not a directory"},
		{newer, "database schema version 999 is newer than this klaxon-receiver knows"},
	} {
		file := filepath.Join(dir, "receiver.yml")
		receivertest.WriteFile(t, file, fmt.Sprintf("storage:\n  path: %q\nroutes:\n  - name: critical\n", tc.path))
		svc, err := NewService(t.Context(), Options{ConfigFile: file, Runbooks: runbooks.FS, Registerer: prometheus.NewRegistry(), Logger: promslog.NewNopLogger()})
		if err == nil {
			svc.Close()
			t.Errorf("store at %s: started, want %q", tc.path, tc.want)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("store at %s: %v, want %q", tc.path, err, tc.want)
		}
	}
}

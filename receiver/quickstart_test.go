package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// builtInSecrets are the environment variables that add channels to the
// built-in config.
var builtInSecrets = []string{"PAGERDUTY_INTEGRATION_KEY", "OPSGENIE_API_KEY", "SLACK_WEBHOOK_URL", "DISCORD_WEBHOOK_URL"}

// TestQuickStart does what README.md's quick start says, against the
// built binary on its built-in config: the sample webhook on critical
// makes an incident that the incidents command and the status page list
// and that ack acknowledges, heartbeat makes none, and the store is under
// data/ of the working directory.
func TestQuickStart(t *testing.T) {
	for _, name := range builtInSecrets {
		t.Setenv(name, "") // no channels: the defaults page nobody
	}
	bin := testenv.Binary(t, "klaxon-receiver")
	dir, addr := t.TempDir(), testenv.FreeAddr(t)
	p := testenv.StartProcess(t, dir, bin, "--web.listen-address="+addr)
	p.WaitReady(t, "http://"+addr+"/-/ready", startTimeout)
	receiverURL := "--receiver.url=http://" + addr

	sample, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "pkg", "alert", "testdata", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := httpDo(t.Context(), http.MethodPost, "http://"+addr+"/webhook/critical", sample)
	if err != nil || code != http.StatusOK {
		t.Fatalf("POST /webhook/critical: %d %s %v, want 200", code, body, err)
	}
	var accepted struct {
		Incident   string `json:"incident"`
		Deliveries int    `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(body), &accepted); err != nil || accepted.Incident == "" || accepted.Deliveries != 0 {
		t.Errorf("webhook answered %s, want an incident and no deliveries (no channels)", body)
	}
	// Heartbeat opens no incident: Watchdog always fires.
	if code, body, err := httpDo(t.Context(), http.MethodPost, "http://"+addr+"/webhook/heartbeat", sample); err != nil || code != http.StatusOK {
		t.Fatalf("POST /webhook/heartbeat: %d %s %v, want 200", code, body, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "klaxon-receiver.db")); err != nil {
		t.Errorf("the store is not under data/: %v", err)
	}

	id := listedIncident(t, bin, receiverURL, "critical", "default", "-")
	if !strings.HasPrefix(accepted.Incident, id) {
		t.Errorf("incidents lists %q, the webhook answered incident %q", id, accepted.Incident)
	}
	page := statusPage(t, addr)
	for _, want := range []string{"HighErrorRate", "Firing, not acknowledged"} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page lacks %q:\n%s", want, page)
		}
	}

	stdout, stderr, code := runCommand(t, bin, "ack", id, "--by", "alice", receiverURL)
	if code != 0 || !strings.Contains(stdout, "acknowledged by alice") {
		t.Errorf("ack: exit %d, stdout %q, stderr %q; want it acknowledged by alice", code, stdout, stderr)
	}
	listedIncident(t, bin, receiverURL, "critical", "default", "alice")
	if page := statusPage(t, addr); !strings.Contains(page, "Acknowledged by alice") {
		t.Errorf("the status page does not show the acknowledgement:\n%s", page)
	}

	const unknown = "0123456789abcdef"
	_, stderr, code = runCommand(t, bin, "ack", unknown, "--by", "alice", receiverURL)
	if want := "receiver answered 404: incident " + unknown + ": no such open incident"; code != 1 || !strings.Contains(stderr, want) || strings.Count(stderr, unknown) != 1 {
		t.Errorf("ack of an unknown incident: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
}

// listedIncident runs the incidents command, expects exactly one incident,
// on route with policy and acked by ackedBy, and returns its ID as listed.
func listedIncident(t *testing.T, bin, receiverURL, route, policy, ackedBy string) string {
	t.Helper()
	stdout, stderr, code := runCommand(t, bin, "incidents", receiverURL)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("incidents: exit %d, stderr %q, stdout:\n%s\nwant a header and one incident", code, stderr, stdout)
	}
	header, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	column := func(name string) string {
		for i, h := range header {
			if h == name && i < len(row) {
				return row[i]
			}
		}
		t.Fatalf("incidents has no column %s:\n%s", name, stdout)
		return ""
	}
	if column("ROUTE") != route || column("POLICY") != policy || !strings.Contains(lines[1], " "+ackedBy+" ") {
		t.Errorf("incidents:\n%s\nwant route %s, policy %s, acked by %s", stdout, route, policy, ackedBy)
	}
	return column("ID")
}

func statusPage(t *testing.T, addr string) string {
	t.Helper()
	code, page, err := httpDo(t.Context(), http.MethodGet, "http://"+addr+"/", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /: %d %v", code, err)
	}
	return page
}

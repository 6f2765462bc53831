package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/alert"
)

// pagedRoute is a route with an escalation policy, for writeConfig.
const pagedRoute = `  - name: paged
    channels: [slack]
    escalation_policy: default
users:
  - name: alice
    slack_id: U01ALICE0
escalation_policies:
  - name: default
    levels:
      - targets: [{user: alice}]
`

// collidingAlerts are two alert names whose incidents on route paged
// have the same short ID (20334aca), found by trying CollideN in turn.
var collidingAlerts = [2]string{"Collide8813", "Collide80568"}

// testIncidentCommands runs incidents, ack and resolve against a running
// receiver by short ID: a prefix too short or shared by two incidents is
// refused, a second ack by someone else names who has the incident, and
// the same person's second ack succeeds.
func testIncidentCommands(t *testing.T, bin string) {
	f := newFakes(t)
	r := &instance{bin: bin, dir: t.TempDir(), addr: testenv.FreeAddr(t)}
	r.config = writeConfig(t, r.dir, r.addr, f, pagedRoute)
	r.start(t)
	var keys [2]string
	for i, name := range collidingAlerts {
		m := message(name, alert.StatusFiring)
		r.mustPost(t, "paged", m)
		keys[i] = alert.IncidentKey("paged", m.GroupKey)
	}
	short := alert.ShortID(keys[0])
	if alert.ShortID(keys[1]) != short {
		t.Fatalf("incidents %s and %s do not share a short ID", keys[0], keys[1])
	}
	client := []string{"--receiver.url=" + r.url("/")}
	cmd := func(args ...string) (string, string, int) {
		t.Helper()
		return runCommand(t, bin, append(args, client...)...)
	}

	stdout, stderr, code := cmd("incidents")
	if code != 0 || strings.Count(stdout, "\n"+short+"  paged") != 2 || strings.Contains(stdout, keys[0]) {
		t.Errorf("incidents: exit %d, stderr %q, stdout:\n%s\nwant both incidents by their short ID %s", code, stderr, stdout, short)
	}

	first, second := min(keys[0], keys[1]), max(keys[0], keys[1])
	_, stderr, code = cmd("ack", short, "--by", "alice")
	want := fmt.Sprintf("klaxon-receiver: receiver answered 409: incident ID %s matches 2 incidents (%s, %s): give more of the ID\n", short, first, second)
	if code != 1 || stderr != want {
		t.Errorf("ack of a shared short ID: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
	_, stderr, code = cmd("ack", short[:7], "--by", "alice")
	want = fmt.Sprintf("klaxon-receiver: receiver answered 400: incident ID %q is too short: give at least 8 characters, as the incidents command lists them\n", short[:7])
	if code != 1 || stderr != want {
		t.Errorf("ack of 7 characters: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}

	n := len(short)
	for first[n] == second[n] {
		n++
	}
	id := second[:n+1]
	stdout, stderr, code = cmd("ack", id, "--by", "alice")
	if want := "incident " + short + " acknowledged by alice\n"; code != 0 || stdout != want {
		t.Errorf("ack %s: exit %d, stdout %q, stderr %q; want %q", id, code, stdout, stderr, want)
	}
	stdout, stderr, code = cmd("ack", id, "--by", "alice")
	if code != 0 || !strings.HasPrefix(stdout, "incident "+short+" was already acknowledged by alice at ") || !strings.HasSuffix(stdout, ": nothing changed\n") {
		t.Errorf("ack again by alice: exit %d, stdout %q, stderr %q; want exit 0 and already acknowledged", code, stdout, stderr)
	}
	_, stderr, code = cmd("ack", second, "--by", "bob")
	if code != 1 || !strings.HasPrefix(stderr, "klaxon-receiver: receiver answered 409: incident "+short+" was already acknowledged by alice at ") {
		t.Errorf("ack by bob: exit %d, stderr %q; want exit 1 and who has it", code, stderr)
	}

	stdout, stderr, code = cmd("resolve", first[:n+1])
	if want := "incident " + short + " resolved: nobody is paged for it any more; Alertmanager's alerts are unchanged\n"; code != 0 || stdout != want {
		t.Errorf("resolve %s: exit %d, stdout %q, stderr %q; want %q", first[:n+1], code, stdout, stderr, want)
	}
	// With one of the two left, the short ID names it.
	stdout, stderr, code = cmd("resolve", short)
	if code != 0 || !strings.HasPrefix(stdout, "incident "+short+" resolved") {
		t.Errorf("resolve %s: exit %d, stdout %q, stderr %q", short, code, stdout, stderr)
	}
	stdout, _, _ = cmd("incidents")
	if strings.Contains(stdout, short) {
		t.Errorf("incidents after both resolves:\n%s", stdout)
	}
}

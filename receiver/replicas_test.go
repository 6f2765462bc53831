package main

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
)

// replicasConfig is the one config of two replicas on the database of
// the DSN given, behind one address: a route paged to Slack with a
// policy that pages alice.
const replicasConfig = `global:
  external_url: http://klaxon.example/
  ack_secret: replicas-ack-secret-0123456789abcdefgh
storage:
  postgres:
    dsn: %q
    max_conns: 4
  takeover_after: 3s
channels:
  - name: slack
    slack:
      webhook_url: %q
routes:
  - name: paged
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

// TestReplicas runs two built receivers on one PostgreSQL database with
// one config, as docs/ha.md describes: an incident posted to one is
// listed by the other's incidents command; a link signed with the shared
// key acknowledges it on the other, once, which the first one's
// incidents command and status page show; a resolve through one is seen
// by the other; and Slack hears the trigger and the acknowledgement once
// each. pkg/receiver's TestReplicas* check the rest of what that page
// promises.
func TestReplicas(t *testing.T) {
	bin := testenv.Binary(t, "klaxon-receiver")
	slack := slacktest.NewServer()
	t.Cleanup(slack.Close)
	config := filepath.Join(t.TempDir(), "klaxon-receiver.yml")
	writeFile(t, config, fmt.Sprintf(replicasConfig, testenv.PostgresDatabase(t), slack.NewWebhook()))
	var a, b *instance
	for _, r := range []**instance{&a, &b} {
		*r = &instance{bin: bin, config: config, addr: testenv.FreeAddr(t)}
		(*r).start(t)
	}

	m := message("HighErrorRate", alert.StatusFiring)
	a.mustPost(t, "paged", m)
	key := alert.IncidentKey("paged", m.GroupKey)
	onA, onB := "--receiver.url="+a.url("/"), "--receiver.url="+b.url("/")
	id := listedIncident(t, bin, onB, "paged", "default", "-")
	awaitSlack(t, slack, "<@U01ALICE0>")

	link := signedLink(t, config, key)
	if codes := []int{postLink(t, b, link), postLink(t, a, link)}; codes[0] != http.StatusOK || codes[1] != http.StatusConflict {
		t.Errorf("the link on b, then on a: %v, want 200 then 409", codes)
	}
	listedIncident(t, bin, onA, "paged", "default", "dana")
	if page := statusPage(t, a.addr); !strings.Contains(page, "dana") {
		t.Errorf("a's status page does not name dana, who acknowledged on b:\n%s", page)
	}
	awaitSlack(t, slack, "<@U01ALICE0>", "acknowledged by dana")

	if _, stderr, code := runCommand(t, bin, "resolve", id, onB); code != 0 {
		t.Fatalf("resolve on b: exit %d: %s", code, stderr)
	}
	if _, stderr, code := runCommand(t, bin, "resolve", id, onA); code == 0 || !strings.Contains(stderr, "no such open incident") {
		t.Errorf("resolve on a after b's: exit %d, %q; want no such open incident", code, stderr)
	}
	for _, r := range []*instance{a, b} {
		assertNoSecrets(t, r.Output(), []string{"replicas-ack-secret"})
	}
}

// signedLink is an acknowledgement link of the incident, signed with the
// config's key as a replica signs it now.
func signedLink(t *testing.T, config, key string) string {
	t.Helper()
	rt, err := receiverconfig.Load(config, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	link, err := rt.AckURL(key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// postLink uses the link on the replica r, as its button does.
func postLink(t *testing.T, r *instance, link string) int {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, r.url(u.RequestURI()), strings.NewReader("name=dana"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// awaitSlack waits until Slack has received exactly the messages whose
// texts hold want, in order.
func awaitSlack(t *testing.T, slack *slacktest.Server, want ...string) {
	t.Helper()
	testenv.Eventually(t, deliveryTimeout, func() error {
		var texts []string
		for _, r := range slack.Received() {
			texts = append(texts, r.Message.Text)
		}
		if len(texts) != len(want) {
			return fmt.Errorf("Slack received %q, want %d messages with %q", texts, len(want), want)
		}
		for i, w := range want {
			if !strings.Contains(texts[i], w) {
				return fmt.Errorf("Slack received %q, want messages with %q", texts, want)
			}
		}
		return nil
	})
}

package discord_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// digestSet is what may wait for one channel: a trigger and its resolve,
// another group's trigger and escalation, and a third's acknowledgement
// by someone with a hostile name.
func digestSet() []*notify.Notification {
	first := firingPair()
	first.ID, first.AckURL = 1, ackURL
	latency := group(notify.KindTrigger, alert.StatusFiring,
		mkAlert("HighLatency", "api-1:8080", alert.StatusFiring, runbook("api-1")),
		mkAlert("HighLatencyP99", "api-2:8080", alert.StatusFiring, runbook("api-2")),
		mkAlert("HighLatency", "api-3:8080", alert.StatusResolved, runbook("api-3")))
	m := latency.Message
	m.GroupKey, m.GroupLabels = `{}:{alertname="HighLatency",job="api"}`, map[string]string{"alertname": "HighLatency", "job": "api"}
	for i := range m.Alerts {
		m.Alerts[i].Labels["severity"] = "warning"
		m.Alerts[i].Annotations["summary"] = "api answers slowly: **p99** over 2s <@&123>"
	}
	m.CommonLabels = map[string]string{"job": "api", "severity": "warning"}
	latency.ID, latency.IncidentKey = 2, alert.IncidentKey("payments", m.GroupKey)
	m.TruncatedAlerts = 2 // max_alerts cut the group short
	resolved := resolvedPair()
	resolved.ID = 3
	escalated := *latency
	escalated.ID, escalated.Kind, escalated.Level = 4, notify.KindEscalate, 2
	escalated.Redirects = []notify.Redirect{{Schedule: "payments-primary", To: "user senior"}}
	escalated.Mentions, escalated.AckURL = []string{"<@555555555555555555>"}, ackURL
	acked := group(notify.KindAcknowledged, alert.StatusFiring, mkAlert("PostgresDown", "db-1:5432", alert.StatusFiring, runbook("db-1")))
	acked.Message.GroupKey = `{}:{alertname="PostgresDown"}`
	acked.ID, acked.IncidentKey, acked.AckedBy = 5, alert.IncidentKey("payments", acked.Message.GroupKey), "@everyone <@&123> **x**"
	return []*notify.Notification{first, latency, resolved, &escalated, acked}
}

func TestDigestGolden(t *testing.T) {
	s, url := fake(t)
	nf, logs := notifier(t, url, mentionsYAML)
	covered, err := nf.NotifyDigest(context.Background(), digestSet())
	if err != nil || covered != 5 {
		t.Fatalf("NotifyDigest: covered %d, %v; want all 5\nlogs:\n%s", covered, err, logs)
	}
	got := s.Received()
	if len(got) != 1 {
		t.Fatalf("the fake accepted %d messages, want 1", len(got))
	}
	testkit.GoldenJSON(t, filepath.Join("testdata", "digest.golden.json"), got[0].Raw)
	// The channel's critical mentions and the first trigger's, and the
	// escalation's; nobody for the warning trigger, the resolve or the
	// acknowledgement.
	want := []string{"<@&" + critRole + ">", "<@&" + escRole + ">", "<@" + critUser + ">", "<@" + escUser + ">", "<@555555555555555555>"}
	if diff := cmp.Diff(want, got[0].Pings()); diff != "" {
		t.Errorf("pings (-want +got):\n%s", diff)
	}
	text := got[0].Body.Content
	for _, e := range got[0].Body.Embeds {
		text += e.Title + e.Description
	}
	for _, bad := range []string{"@everyone", "<@&123>", "**x**", "**p99**"} {
		if strings.Contains(text, bad) {
			t.Errorf("the digest holds %q as it came", bad)
		}
	}
}

// TestDigestOfOne: a digest of one notification is its own message.
func TestDigestOfOne(t *testing.T) {
	s, url := fake(t)
	nf, _ := notifier(t, url, mentionsYAML)
	covered, err := nf.NotifyDigest(context.Background(), digestSet()[:1])
	if err != nil || covered != 1 {
		t.Fatalf("NotifyDigest: covered %d, %v", covered, err)
	}
	if err := nf.Notify(context.Background(), digestSet()[0]); err != nil {
		t.Fatal(err)
	}
	got := s.Received()
	if len(got) != 2 || string(got[0].Raw) != string(got[1].Raw) {
		t.Errorf("the digest of one differs from the notification's own message")
	}
}

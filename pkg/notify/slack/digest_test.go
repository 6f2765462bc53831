package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
)

// digestSet is what may wait for one channel: a trigger and its resolve,
// another group's trigger and escalation, and a third's acknowledgement.
func digestSet() []*notify.Notification {
	first := firingTwo()
	first.ID, first.Mentions, first.AckURL = 1, []string{"W0456DEFG"}, ackURL
	latency := notification(notify.KindTrigger, alert.StatusFiring,
		errorRateAlert("api-1:8080", alert.StatusFiring), errorRateAlert("api-2:8080", alert.StatusFiring), errorRateAlert("api-3:8080", alert.StatusResolved))
	m := latency.Message
	m.GroupKey, m.GroupLabels = `{}:{alertname="HighLatency",job="api"}`, map[string]string{"alertname": "HighLatency", "job": "api"}
	m.CommonLabels = map[string]string{"job": "api", "severity": "warning"}
	for i := range m.Alerts {
		m.Alerts[i].Labels["alertname"], m.Alerts[i].Labels["severity"] = "HighLatency", "warning"
		m.Alerts[i].Annotations["summary"] = "api answers slowly & <late>"
	}
	m.Alerts[1].Labels["alertname"] = "HighLatencyP99"
	latency.ID, latency.IncidentKey = 2, alert.IncidentKey("api-oncall", m.GroupKey)
	m.TruncatedAlerts = 2 // max_alerts cut the group short
	resolved := resolvedTwo()
	resolved.ID = 3
	escalated := *latency
	escalated.ID, escalated.Kind, escalated.Level, escalated.Mentions, escalated.AckURL = 4, notify.KindEscalate, 2, []string{"U0ESC0001"}, ackURL
	escalated.Redirects = []notify.Redirect{{Schedule: "api-primary", To: "user senior"}}
	acked := notification(notify.KindAcknowledged, alert.StatusFiring, errorRateAlert("db-1:5432", alert.StatusFiring))
	acked.Message.GroupKey = `{}:{alertname="PostgresDown"}`
	acked.Message.CommonLabels["alertname"], acked.Message.Alerts[0].Labels["alertname"] = "PostgresDown", "PostgresDown"
	acked.ID, acked.IncidentKey, acked.AckedBy = 5, alert.IncidentKey("api-oncall", acked.Message.GroupKey), "alice <@U0123>"
	return []*notify.Notification{first, latency, resolved, &escalated, acked}
}

func TestDigestGolden(t *testing.T) {
	fake, hook := newFake(t)
	n := newNotifier(t, hook, mentionsConfig, nil)
	covered, err := n.NotifyDigest(context.Background(), digestSet())
	if err != nil || covered != 5 {
		t.Fatalf("NotifyDigest: covered %d, %v; want all 5", covered, err)
	}
	got := fake.Received()
	if len(got) != 1 {
		t.Fatalf("the fake accepted %d posts, want 1", len(got))
	}
	golden(t, "digest", got[0].Body)
	want := []string{"<!subteam^S0123ABCD>", "<@U012AB3CD>", "<@W0456DEFG>", "<!here>", "<@U0ESC0001>"}
	if diff := cmp.Diff(want, got[0].Mentions); diff != "" {
		t.Errorf("mentions (-want +got):\n%s", diff)
	}
}

// TestDigestOfOne: a digest of one notification is its own message.
func TestDigestOfOne(t *testing.T) {
	fake, hook := newFake(t)
	n := newNotifier(t, hook, mentionsConfig, nil)
	covered, err := n.NotifyDigest(context.Background(), digestSet()[:1])
	if err != nil || covered != 1 {
		t.Fatalf("NotifyDigest: covered %d, %v", covered, err)
	}
	if err := n.Notify(context.Background(), digestSet()[0]); err != nil {
		t.Fatal(err)
	}
	got := fake.Received()
	if len(got) != 2 || !bytes.Equal(got[0].Body, got[1].Body) {
		t.Errorf("the digest of one differs from the notification's own message:\n%s\n%s", got[0].Body, got[1].Body)
	}
}

// fuzzDigest is the digest FuzzDigest renders: count%20+2 notifications
// of every kind, over a few incidents, built from the fuzzed texts.
func fuzzDigest(alertname, severity, label, summary, description, runbook string, count uint8, status string) []*notify.Notification {
	kinds := []notify.Kind{notify.KindTrigger, notify.KindResolve, notify.KindEscalate, notify.KindAcknowledged}
	var ns []*notify.Notification
	for i := range int(count)%20 + 2 {
		n := notifytest.FuzzNotification("ops-slack", alertname, severity, label, summary, description, runbook, count+uint8(i), status)
		n.ID, n.Kind, n.Level = int64(i+1), kinds[i%len(kinds)], i
		n.IncidentKey = fmt.Sprintf("incident-%d", i%5)
		// As decoded from JSON, like the alerts' texts.
		n.Mentions, n.AckURL, n.AckedBy = fuzzEscalation, strings.ToValidUTF8(runbook, "\uFFFD"), strings.ToValidUTF8(label, "\uFFFD")
		if i%3 == 0 {
			n.AckURL = "https://klaxon.example.com/ack/" + strings.Repeat("A", 170)
		}
		ns = append(ns, n)
	}
	return ns
}

// FuzzDigest renders digests of fuzzed notifications and checks each
// against Slack's rules, as FuzzRender does a single message: within
// Slack's limits, escaped, a line for every notification it covers, and
// mentioning exactly the people those notifications would have.
func FuzzDigest(f *testing.F) {
	notifytest.FuzzSeed(f)
	s := fuzzNotifiers(f)[0]
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if notifytest.FuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		ns := fuzzDigest(alertname, severity, label, summary, description, runbook, count, status)
		msg, covered := s.buildDigest(ns)
		if covered < 1 || covered > MaxDigest || covered > len(ns) {
			t.Fatalf("covers %d of %d notifications", covered, len(ns))
		}
		if covered == 1 {
			return // sent as the first notification's own message, which FuzzRender checks
		}
		if bad := notifytest.InvalidUTF8("message", reflect.ValueOf(msg)); len(bad) > 0 {
			t.Errorf("invalid UTF-8 in %s", strings.Join(bad, ", "))
		}
		body, err := json.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		for _, problem := range fuzzCheckDigest(ns[:covered], body) {
			t.Error(problem)
		}
	})
}

// fuzzCheckDigest lists what Slack would reject or truncate in body, the
// digest of ns, what is missing from it, and every mention in it that
// none of ns would have made.
func fuzzCheckDigest(ns []*notify.Notification, body []byte) []string {
	var m slacktest.Message
	if err := json.Unmarshal(body, &m); err != nil || len(m.Attachments) != 1 {
		return []string{fmt.Sprintf("message does not decode to one attachment: %v", err)}
	}
	problems := fuzzCheckMessage(ns[0], body)
	// fuzzCheckMessage expects the mentions of ns[0] alone.
	problems = slices.DeleteFunc(problems, func(p string) bool { return strings.HasPrefix(p, "mentions in text") })
	var want []string
	for _, n := range ns {
		for _, seq := range fuzzWantDigestMentions(n) {
			if !slices.Contains(want, seq) {
				want = append(want, seq)
			}
		}
	}
	got, _ := fuzzSequences(m.Text, true)
	if diff := cmp.Diff(want, got); diff != "" {
		problems = append(problems, fmt.Sprintf("mentions in text (-want +got):\n%s", diff))
	}
	lines := strings.Split(m.Attachments[0].Text, "\n")
	if len(lines) != len(ns) {
		problems = append(problems, fmt.Sprintf("%d lines for %d notifications", len(lines), len(ns)))
	}
	for i, line := range lines {
		if !strings.HasPrefix(line, "*[") {
			problems = append(problems, fmt.Sprintf("line %d does not start with a status: %.80q", i, line))
		}
	}
	return problems
}

// fuzzWantDigestMentions are the sequences n's line adds: a trigger's as
// in its own message, an escalation's valid ones while the group fires.
func fuzzWantDigestMentions(n *notify.Notification) []string {
	if n.Kind == notify.KindEscalate && n.Message.Status == alert.StatusFiring {
		return fuzzEscalationSeqs
	}
	return fuzzWantMentions(n)
}

// TestFuzzDigestChecksCatch proves that FuzzDigest's own checks can fail.
func TestFuzzDigestChecksCatch(t *testing.T) {
	s := fuzzNotifiers(t)[0]
	ns := fuzzDigest("HighErrorRate", "critical", "api-1", "summary", "description", "https://runbooks.example.com/x", 3, "firing")
	for _, tc := range []struct {
		name  string
		mess  func(*message)
		wantN int
	}{
		{"sound", func(*message) {}, 0},
		{"a line lost", func(m *message) {
			a := &m.Attachments[0]
			a.Text = a.Text[:strings.LastIndexByte(a.Text, '\n')]
		}, 1},
		{"a mention lost", func(m *message) { m.Text = strings.Replace(m.Text, "<@U0ESC0004>", "", 1) }, 1},
		{"a stranger mentioned", func(m *message) { m.Text += " <!everyone>" }, 1},
		{"a line without its status", func(m *message) { m.Attachments[0].Text = "x" + m.Attachments[0].Text }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, covered := s.buildDigest(ns)
			if covered != len(ns) {
				t.Fatalf("covered %d of %d", covered, len(ns))
			}
			tc.mess(msg)
			body, err := json.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := fuzzCheckDigest(ns, body); len(got) != tc.wantN {
				t.Errorf("problems %q, want %d", got, tc.wantN)
			}
		})
	}
}

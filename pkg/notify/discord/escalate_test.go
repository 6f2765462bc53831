package discord_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

const ackURL = "https://klaxon.example.com/ack/inc?sig=a1b2&d=(4)"

func TestEscalationMessages(t *testing.T) {
	escalated := firingPair()
	escalated.Kind, escalated.Level, escalated.AckURL = notify.KindEscalate, 2, ackURL
	escalated.Mentions = []string{"<@" + escUser + ">", "<@&" + escRole + ">", "@everyone"}
	acked := firingPair()
	acked.Kind, acked.AckedBy = notify.KindAcknowledged, "Ada Lovelace"
	hostileAcked := hostile()
	hostileAcked.Kind, hostileAcked.AckedBy = notify.KindAcknowledged, "@everyone <@&123> **x**"
	hostileEscalated := hostile()
	hostileEscalated.Kind, hostileEscalated.Level, hostileEscalated.AckURL = notify.KindEscalate, 3, "javascript:alert(1)"
	truncated := firingPair()
	truncated.Kind, truncated.Level, truncated.Mentions = notify.KindEscalate, 2, nil
	truncated.Message.TruncatedAlerts = 3
	withAck := firingPair()
	withAck.AckURL = ackURL
	for _, tc := range []struct {
		name  string
		n     *notify.Notification
		pings []string
	}{
		// Only the level's targets: the channel's own mentions are not
		// paged again.
		{"escalate", escalated, []string{"<@&" + escRole + ">", "<@" + escUser + ">"}},
		{"escalate-hostile", hostileEscalated, []string{}},
		{"escalate-truncated", truncated, []string{}},
		{"acknowledged", acked, []string{}},
		{"acknowledged-hostile", hostileAcked, []string{}},
		{"firing-ack-link", withAck, []string{"<@&" + critRole + ">", "<@&" + escRole + ">", "<@" + critUser + ">", "<@" + escUser + ">"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := send(t, mentionsYAML, tc.n)
			testkit.GoldenJSON(t, filepath.Join("testdata", tc.name+".golden.json"), got.Raw)
			if diff := cmp.Diff(tc.pings, got.Pings()); diff != "" {
				t.Errorf("pings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEscalationListBounded: an escalate message lists at most max_alerts
// firing alerts and counts the rest.
func TestEscalationListBounded(t *testing.T) {
	n := sixty()
	n.Kind, n.Level = notify.KindEscalate, 1
	got, _ := send(t, "  max_alerts: 3\n", n)
	if len(got.Body.Embeds) != 1 {
		t.Fatalf("%d embeds, want 1", len(got.Body.Embeds))
	}
	if d := got.Body.Embeds[0].Description; !strings.HasSuffix(d, "…and 57 more") {
		t.Errorf("description ends %q, want …and 57 more", d[max(0, len(d)-40):])
	}
}

// TestRedirectsShown: an escalate or trigger message whose page went to a
// fallback says so in its content, escaped, and one without says nothing
// of it.
func TestRedirectsShown(t *testing.T) {
	escalated := firingPair()
	escalated.Kind, escalated.Level = notify.KindEscalate, 2
	for _, n := range []*notify.Notification{escalated, firingPair()} {
		plain, _ := send(t, mentionsYAML, n)
		if strings.Contains(plain.Body.Content, "nobody on call") {
			t.Errorf("%s without redirects: content %q", n.Kind, plain.Body.Content)
		}
		n.Redirects = []notify.Redirect{{Schedule: "primary_eu", To: "user senior"}}
		got, _ := send(t, mentionsYAML, n)
		want := `nobody on call for primary\_eu; paging user senior instead`
		if !strings.Contains(got.Body.Content, want) {
			t.Errorf("%s content %q, want it to contain %q", n.Kind, got.Body.Content, want)
		}
	}
}

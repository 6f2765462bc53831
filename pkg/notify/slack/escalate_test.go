package slack

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

const ackURL = "https://klaxon.example.com/ack/inc?sig=a1b2|c3&d=<4>"

func escalated(level int, mentions ...string) *notify.Notification {
	n := firingTwo()
	n.Kind, n.Level, n.Mentions, n.AckURL = notify.KindEscalate, level, mentions, ackURL
	return n
}

func acknowledged(by string) *notify.Notification {
	n := firingTwo()
	n.Kind, n.Level, n.AckedBy = notify.KindAcknowledged, 2, by
	return n
}

func TestGoldenEscalation(t *testing.T) {
	withAck := firingTwo()
	withAck.AckURL = ackURL
	hostileEscalated := hostile()
	hostileEscalated.Kind, hostileEscalated.Level = notify.KindEscalate, 3
	hostileEscalated.AckURL = "javascript:alert(1)"
	hostileAcked := hostile()
	hostileAcked.Kind, hostileAcked.AckedBy = notify.KindAcknowledged, hostileText
	truncated := escalated(2)
	truncated.Message.TruncatedAlerts = 3
	for _, tc := range []struct {
		name     string
		n        *notify.Notification
		mentions []string
	}{
		// The channel's own mentions for critical are not paged again.
		{"escalate", escalated(2, "W0456DEFG", "S0999ZZZZ", "not-an-id"), []string{"<@W0456DEFG>", "<!subteam^S0999ZZZZ>"}},
		{"escalate-hostile", hostileEscalated, nil},
		{"escalate-truncated", truncated, nil},
		{"acknowledged", acknowledged("Ada Lovelace"), nil},
		{"acknowledged-hostile", hostileAcked, nil},
		{"firing-ack-link", withAck, []string{"<!subteam^S0123ABCD>", "<@U012AB3CD>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := send(t, mentionsConfig, tc.n, nil)
			golden(t, tc.name, req.Body)
			if diff := cmp.Diff(tc.mentions, req.Mentions); diff != "" {
				t.Errorf("mentions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAcknowledgedPingsNobody: even with mentions on the notification, an
// acknowledged message and an escalate message of a resolved group
// notify nobody.
func TestAcknowledgedPingsNobody(t *testing.T) {
	acked := acknowledged("Ada")
	acked.Mentions = []string{"U012AB3CD"}
	resolvedEscalate := resolvedTwo()
	resolvedEscalate.Kind, resolvedEscalate.Mentions = notify.KindEscalate, []string{"U012AB3CD"}
	for _, n := range []*notify.Notification{acked, resolvedEscalate} {
		req := send(t, mentionsConfig, n, nil)
		if len(req.Mentions) != 0 {
			t.Errorf("%s of a %s group notified %v", n.Kind, n.Message.Status, req.Mentions)
		}
	}
}

// TestEscalationListBounded: an escalate message lists at most max_alerts
// firing alerts and counts the rest.
func TestEscalationListBounded(t *testing.T) {
	n := sixty()
	n.Kind, n.Level = notify.KindEscalate, 1
	n.Message.TruncatedAlerts = 0 // escalate-truncated.json counts those
	n.Message.Alerts = append(n.Message.Alerts, errorRateAlert("gone:1", alert.StatusResolved))
	req := send(t, "max_alerts: 3\n", n, nil)
	text := req.Message.Attachments[0].Text
	want := "_and 57 more_"
	if got := text[len(text)-len(want):]; got != want {
		t.Errorf("attachment text ends %q, want %q", got, want)
	}
}

// TestRedirectsShown: an escalate or trigger message whose page went to a
// fallback says so in its text, after the mentions, and one without says
// nothing of it.
func TestRedirectsShown(t *testing.T) {
	const note = "nobody on call for primary; paging user senior instead"
	trigger := firingTwo()
	for _, n := range []*notify.Notification{escalated(2, "U012AB3CD"), trigger} {
		plain := send(t, mentionsConfig, n, nil).Message.Text
		if strings.Contains(plain, "nobody on call") {
			t.Errorf("%s without redirects: text %q", n.Kind, plain)
		}
		n.Redirects = []notify.Redirect{{Schedule: "primary", To: "user senior"}}
		text := send(t, mentionsConfig, n, nil).Message.Text
		if text != plain+"\n"+note {
			t.Errorf("%s text:\n got %q\nwant %q", n.Kind, text, plain+"\n"+note)
		}
	}
}

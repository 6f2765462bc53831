package chaos

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReconcile checks the ledger on one incident of a delivering route
// and the four kinds of channel: each kind shows one way a delivery can
// go.
func TestReconcile(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	group := "alertname=A;job=a;"
	acc := func(rank int, s float64) Accepted {
		return Accepted{Route: "r", Incident: "inc", Group: group, Rank: rank, Start: at(s)}
	}
	accepted := []Accepted{acc(1, 0), acc(2, 1), acc(Resolved, 2),
		// A repeat of the first state adds no delivery.
		{Route: "r", Incident: "inc", Group: group, Rank: 1, Start: at(3), Repeat: true},
		// A route that delivers nowhere is not reconciled.
		{Route: "quiet", Incident: "q", Group: group, Rank: 1, Start: at(0)}}
	msg := func(kind string, rank int, s float64) Message {
		m := Message{Kind: kind, Route: "r", Rank: rank, Sent: at(s).Add(-time.Millisecond), At: at(s)}
		if kind == PagerDuty || kind == Opsgenie {
			m.Incident = "inc"
		} else {
			m.Group = group
		}
		return m
	}
	msgs := []Message{
		// PagerDuty: every state, in order, twice the last.
		msg(PagerDuty, 1, 0.5), msg(PagerDuty, 2, 1.5), msg(PagerDuty, Resolved, 2.5), msg(PagerDuty, Resolved, 3),
		// Opsgenie: the second state only as the third.
		msg(Opsgenie, 1, 0.1), msg(Opsgenie, Resolved, 5),
		// Slack: the second state never, the last before the first.
		msg(Slack, 1, 0.2), msg(Slack, Resolved, 6), msg(Slack, 1, 7),
		// Discord: nothing after the first; and a message of another group.
		msg(Discord, 1, 0.3), {Kind: Discord, Route: "r", Group: "alertname=B;", Rank: 1, At: at(1)},
	}
	o := Reconcile(accepted, msgs, []string{"r"})
	got := o
	got.Delays = nil
	want := Outcome{
		Accepted: 3, Expected: 12, Delivered: 10,
		Exact:      3 + 2 + 2 + 1,
		Coalesced:  1 + 1, // Opsgenie's and Slack's second state
		Lost:       2,     // Discord's second and third
		Stale:      2,     // Slack ends on the first state, Discord on the first
		Duplicates: map[string]int{PagerDuty: 1},
		Firsts:     []time.Time{at(2.5).Add(-time.Millisecond)},
		Twice:      []Twice{{First: msg(PagerDuty, Resolved, 2.5), Again: msg(PagerDuty, Resolved, 3)}},
		OutOfOrder: 1,
		Strays:     1,
		Worst: map[string]time.Duration{PagerDuty: 500 * time.Millisecond, Opsgenie: 4 * time.Second,
			Slack: 5 * time.Second, Discord: 300 * time.Millisecond},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	if w := o.WorstDelay(); w != 5*time.Second {
		t.Errorf("worst delay %s, want 5s: Slack's second state, which arrived as the third", w)
	}
	if len(o.Problems()) != 4 {
		t.Errorf("problems %q, want lost, stale, out of order and stray", o.Problems())
	}
}

// TestDigestMessages reads the lines of Slack's and Discord's digests as
// the notifiers write them (see their testdata/digest*.json), escaping
// included.
func TestDigestMessages(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"slack", "*[FIRING:12]* ChaosStorm01 · warning · job=job-03: chaos storm · <http://x/runbook?a=b|Runbook>\n" +
			"*[RESOLVED]* ChaosOutage00 · critical · job=job-00: chaos\n"},
		{"discord", "**[FIRING:12]** ChaosStorm01 · warning · job=job-03: chaos storm · [Runbook](http://x/runbook?a=b)\n" +
			"**[RESOLVED]** ChaosOutage00 · critical · job=job\\-00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := digestMessages("r", tc.text, "2 incidents changed")
			if err != nil {
				t.Fatal(err)
			}
			want := []Message{
				{Route: "r", Group: "alertname=ChaosStorm01;job=job-03;", Rank: 12},
				{Route: "r", Group: "alertname=ChaosOutage00;job=job-00;", Rank: Resolved},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := digestMessages("r", "*[ESCALATED to level 2]* A", "t"); err == nil {
		t.Error("an escalation line was read as a state")
	}
}

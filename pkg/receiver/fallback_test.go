package receiver

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
)

// fallbackConfig is escConfig with primary on call from 09:00 to 17:00
// only, so that nobody is on call when the incident starts at 08:50, and
// with fallbacks: the schedule's (senior) and the policy's (manager).
func fallbackConfig(scheduleFallback bool) string {
	conf := strings.Replace(escConfig, "        participants: [alice]\n",
		"        participants: [alice]\n        restrictions: [{from: \"09:00\", to: \"17:00\"}]\n", 1)
	if scheduleFallback {
		conf = strings.Replace(conf, "escalation_policies:\n", "    fallback: {user: senior}\nescalation_policies:\n", 1)
	}
	return strings.Replace(conf, "  - name: default\n    levels:\n", "  - name: default\n    fallback: {user: manager}\n    levels:\n", 1)
}

// TestFallbackInGap starts an incident while nobody is on call for the
// level 1 schedule: the trigger message pages the schedule's fallback, or
// else the policy's, and says so.
func TestFallbackInGap(t *testing.T) {
	for _, tc := range []struct {
		name             string
		scheduleFallback bool
		want, note       string
	}{
		{"schedule's", true, "<@U04SENIOR> trigger", "nobody on call for primary; paging user senior instead"},
		{"policy's", false, "<@U05MANAGR> trigger", "nobody on call for primary; paging user manager instead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := slacktest.NewServer()
			defer fake.Close()
			h := newEscHarnessWith(t, fallbackConfig(tc.scheduleFallback), t.TempDir(), fake, fake.NewWebhook(), escStart)
			h.post(t, firing("a"))
			if diff := cmp.Diff([]string{tc.want}, h.awaitSlack(t, 1)); diff != "" {
				t.Errorf("Slack messages after the trigger (-want +got):\n%s", diff)
			}
			got := fake.Received()
			if len(got) != 1 || !strings.Contains(got[0].Message.Text, tc.note) {
				t.Errorf("Slack text %q, want it to say %q", got[0].Message.Text, tc.note)
			}
		})
	}
}

// TestFallbackAtLevel2 pages a later level's schedule in a gap: the
// escalate message mentions the policy's fallback, and says why.
func TestFallbackAtLevel2(t *testing.T) {
	conf := strings.Replace(fallbackConfig(false), `from: "09:00"`, `from: "10:00"`, 1)
	conf = strings.Replace(conf, "        targets: [{user: senior}]\n", "        targets: [{schedule: primary}]\n", 1)
	fake := slacktest.NewServer()
	defer fake.Close()
	h := newEscHarnessWith(t, conf, t.TempDir(), fake, fake.NewWebhook(), escStart)
	h.post(t, firing("a"))
	h.awaitSlack(t, 1) // the trigger on its own, not in a digest with level 2
	h.tick(t, escStart.Add(30*time.Minute))
	const note = "nobody on call for primary; paging user manager instead"
	want := []string{"<@U05MANAGR> trigger", "<@U05MANAGR> level 2\n" + note}
	if diff := cmp.Diff(want, h.awaitSlack(t, 2)); diff != "" {
		t.Errorf("Slack messages (-want +got):\n%s", diff)
	}
	for i, r := range fake.Received() {
		if !strings.Contains(r.Message.Text, note) {
			t.Errorf("Slack message %d: %q, want it to say %q", i+1, r.Message.Text, note)
		}
	}
}

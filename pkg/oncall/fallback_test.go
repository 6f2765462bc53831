package oncall

import (
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// TestFallbackConfig checks that a schedule's fallback is loaded and that
// it must name a user or another schedule that exists, reported at the
// fallback's line.
func TestFallbackConfig(t *testing.T) {
	const head = "users:\n  - name: alice\n  - name: bob\nschedules:\n"
	const days = "    layers: [{rotation: daily, participants: [alice], restrictions: [{from: \"09:00\", to: \"17:00\"}]}]\n"
	s := schedule(t, head+"  - name: day\n"+days+"    fallback: {user: bob}\n", "day")
	if got, ok := s.Fallback(); !ok || got != (escalation.Target{User: "bob"}) {
		t.Errorf("fallback = %v, %v; want user bob", got, ok)
	}
	// Outside 09:00-17:00 nobody is on call: the gap the fallback covers.
	if _, ok := s.OnCall(time.Date(2026, 12, 8, 20, 0, 0, 0, time.UTC)); ok {
		t.Error("someone on call at 20:00; want a gap")
	}
	if _, ok := schedule(t, head+"  - name: day\n"+days, "day").Fallback(); ok {
		t.Error("a schedule without fallback has one")
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown user", head + "  - name: day\n" + days + "    fallback: {user: carol}\n",
			`oncall.yml:7: fallback of schedule "day" names user "carol", which is not defined (users: alice, bob)`},
		{"unknown schedule", head + "  - name: day\n" + days + "    fallback:\n      schedule: night\n",
			`oncall.yml:8: schedule "day": fallback names schedule "night", which is not defined`},
		{"itself", head + "  - name: day\n" + days + "    fallback: {schedule: day}\n",
			`oncall.yml:7: schedule "day": fallback names the schedule itself`},
		{"two targets", head + "  - name: day\n" + days + "    fallback: {schedule: day, user: bob}\n",
			`oncall.yml:7: a target needs exactly one of schedule, user, slack_user_group or discord_role (it has 2)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := yamlconf.Decode("oncall.yml", []byte(tc.yaml), &testConfig{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
	// Two schedules that fall back on each other load: paging follows one
	// hop only.
	c := load(t, head+"  - name: day\n"+days+"    fallback: {schedule: night}\n  - name: night\n    layers: [{rotation: daily, participants: [bob]}]\n    fallback: {schedule: day}\n")
	if _, ok := c.schedules["night"].Fallback(); !ok {
		t.Error("night has no fallback")
	}
}

package incident_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/notify"
)

// TestEscalateEnvelopeRedirects: a level whose schedule has nobody on
// call stores, in its escalate delivery, the mention of the policy's
// fallback and the redirect that explains it.
func TestEscalateEnvelopeRedirects(t *testing.T) {
	conf := strings.Replace(policyConfig, "      - delay: 30m\n        targets: [{user: bob}]\n",
		"      - delay: 30m\n        targets: [{schedule: nights}]\n    fallback: {user: bob}\n", 1)
	conf = strings.Replace(conf, "escalation_policies:\n", `schedules:
  - name: nights
    layers:
      - rotation: daily
        participants: [alice]
        restrictions: [{from: "20:00", to: "06:00"}]
escalation_policies:
`, 1)
	r := newRigWith(t, conf)
	r.fire(t, "critical")
	r.kinds(t)
	r.clock.Set(start.Add(30 * time.Minute))
	if err := r.m.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	due, err := r.st.Claim(t.Context(), r.clock.Now(), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].Kind != string(notify.KindEscalate) {
		t.Fatalf("deliveries after level 2 fell due: %+v, want one escalate", due)
	}
	env, err := notify.DecodeStored(notify.KindEscalate, due[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"U02BOB000"}, env.Mentions); diff != "" {
		t.Errorf("mentions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]notify.Redirect{{Schedule: "nights", To: "user bob"}}, env.Redirects); diff != "" {
		t.Errorf("redirects (-want +got):\n%s", diff)
	}
}

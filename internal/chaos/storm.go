package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// StormPlan sizes a storm of alerts through the real Alertmanager.
type StormPlan struct {
	// Alerts distinct alerts are posted to Alertmanager's API v2 over
	// Over, a batch every tick.
	Alerts int
	Over   time.Duration
	// Names and Jobs make Names × Jobs alert groups, as the deployed
	// route groups by alertname and job: alert names ChaosStormNN, those
	// with an even NN critical, the others warning, and jobs job-NN. The
	// alerts are dealt to the groups in turn, so that every group grows
	// for the whole storm.
	Names, Jobs int
	// TimeScale scales the deployed route's group_wait, group_interval
	// and repeat_interval (see testenv.AlertmanagerOptions).
	TimeScale float64
	// Wait bounds how long the deliveries may take after the last post.
	Wait time.Duration
	// KillAt, when not 0, is how long into the storm the receiver gets
	// SIGKILL, as soon as its outbox holds deliveries not yet made; it
	// starts again on the same store Down later.
	KillAt, Down time.Duration
}

// stormTick is how often a batch of alerts is posted.
const stormTick = 100 * time.Millisecond

// Storm posts plan.Alerts alerts to the real Alertmanager, running the
// deployed config with its webhooks pointed at the receiver's routes
// critical, warning and heartbeat; critical and warning deliver to every
// upstream. It waits until each group's final state (all its alerts
// firing) has been accepted and every accepted notification has reached
// every channel, or plan.Wait has passed after the last post. With
// plan.KillAt it also says when the kill came and what it left.
func Storm(t testing.TB, bin, name string, plan StormPlan) (Figures, Kill) {
	t.Helper()
	start := time.Now()
	ctx := t.Context()
	g := NewRig(t, bin, "", []string{"critical", "warning"}, "heartbeat")
	g.Receiver.Start(t)
	am := testenv.StartAlertmanager(t, testenv.AlertmanagerOptions{WebhookBase: g.Front.URL, TimeScale: plan.TimeScale})

	c := &crash{plan: plan, rig: g}
	groups := plan.Names * plan.Jobs
	want := map[string]int{} // final firing count by group signature
	ticks := max(int(plan.Over/stormTick), 1)
	for tick := range ticks {
		at := start.Add(time.Duration(tick) * stormTick)
		pace(ctx, at)
		c.step(t, time.Since(start) >= plan.KillAt)
		from, to := plan.Alerts*tick/ticks, plan.Alerts*(tick+1)/ticks
		batch := make([]testenv.Alert, 0, to-from)
		for i := from; i < to; i++ {
			a := stormAlert(i, groups, plan.Jobs, at)
			batch = append(batch, a)
			want[GroupSignature(map[string]string{"alertname": a.Labels["alertname"], "job": a.Labels["job"]})]++
		}
		if err := am.PostAlerts(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	c.finish(t)
	held, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != plan.Alerts {
		t.Errorf("Alertmanager holds %d alerts, want the %d posted", len(held), plan.Alerts)
	}
	w, o, err := g.Settle(ctx, plan.Wait, func(w Webhooks) error { return finalStates(w, want) })
	if err != nil {
		t.Fatal(err)
	}
	if err := finalStates(w, want); err != nil {
		t.Errorf("the receiver never accepted every group's final state: %v", err)
	}
	f := g.figures(name, w, o, start)
	f.Alerts = plan.Alerts
	return f, c.kill
}

// Kill is when a storm's SIGKILL came, and the outbox it left.
type Kill struct {
	At time.Time
	Outbox
}

// crash kills the receiver in the middle of a storm and starts it again.
type crash struct {
	plan StormPlan
	rig  *Rig
	kill Kill
	done bool
}

// step kills the receiver once due and its outbox holds deliveries, and
// starts it again once it has been down for plan.Down.
func (c *crash) step(t testing.TB, due bool) {
	t.Helper()
	switch {
	case c.plan.KillAt == 0 || c.done:
	case c.kill.At.IsZero() && due:
		if o, err := ReadOutbox(t.Context(), c.rig.Receiver.DB(), time.Now()); err == nil && o.Pending > 0 {
			c.sigkill(t)
		}
	case !c.kill.At.IsZero() && time.Since(c.kill.At) >= c.plan.Down:
		c.rig.Receiver.Start(t)
		c.done = true
	}
}

// finish kills the receiver now if the storm never found its outbox
// holding deliveries, and starts it again.
func (c *crash) finish(t testing.TB) {
	t.Helper()
	if c.plan.KillAt == 0 || c.done {
		return
	}
	if c.kill.At.IsZero() {
		c.sigkill(t)
	}
	pace(t.Context(), c.kill.At.Add(c.plan.Down))
	c.rig.Receiver.Start(t)
	c.done = true
}

func (c *crash) sigkill(t testing.TB) {
	t.Helper()
	c.rig.Receiver.Kill(t)
	c.kill.At = time.Now()
	o, err := ReadOutbox(t.Context(), c.rig.Receiver.DB(), c.kill.At)
	if err != nil {
		t.Fatal(err)
	}
	c.kill.Outbox = o
}

// stormAlert is the storm's alert number i, dealt to group i % groups.
func stormAlert(i, groups, jobs int, at time.Time) testenv.Alert {
	group := i % groups
	name, job := group/jobs, group%jobs
	severity := "critical"
	if name%2 == 1 {
		severity = "warning"
	}
	return testenv.Alert{
		Labels: map[string]string{
			"alertname": fmt.Sprintf("ChaosStorm%02d", name),
			"job":       fmt.Sprintf("job-%02d", job),
			"instance":  fmt.Sprintf("host-%05d:9100", i),
			"severity":  severity,
		},
		Annotations:  map[string]string{"summary": "chaos storm", "description": "One of the storm's alerts; it fires until the test ends."},
		StartsAt:     at,
		EndsAt:       at.Add(time.Hour),
		GeneratorURL: "http://prometheus:9090/graph",
	}
}

// finalStates says which groups' final state, want alerts firing, the
// receiver has not accepted yet.
func finalStates(w Webhooks, want map[string]int) error {
	got := map[string]int{}
	for _, a := range w.Accepted {
		got[a.Group] = max(got[a.Group], a.Rank)
	}
	var missing []string
	for group, n := range want {
		if got[group] != n {
			missing = append(missing, fmt.Sprintf("%s %d of %d", group, got[group], n))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d of %d groups short of their final state: %s", len(missing), len(want), strings.Join(missing[:min(len(missing), 5)], ", "))
	}
	return nil
}

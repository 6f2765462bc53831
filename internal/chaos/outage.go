package chaos

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
)

// OutagePlan sizes the outage scenario.
type OutagePlan struct {
	// Incidents are posted during the outage, each in Steps firing
	// states (1 to Steps alerts) and then resolved, spread evenly over
	// the outage.
	Incidents, Steps int
	// Outage is how long the upstreams are down: PagerDuty and Slack
	// answer 500, Opsgenie and Discord refuse connections.
	Outage time.Duration
	// RetryAfter is the wait each upstream asks for with a 429 before the
	// outage.
	RetryAfter time.Duration
	// Wait bounds how long the deliveries may take after the outage.
	Wait time.Duration
}

// OutageReport is what the outage scenario finds besides the figures.
type OutageReport struct {
	// RetryAfterGap is, by kind, the time from the upstream's 429 to its
	// next request from the receiver; 0 if none came.
	RetryAfterGap map[string]time.Duration
	// Tried counts, by kind, the requests that reached the upstream's
	// proxy during the outage: PagerDuty's and Slack's got a 500,
	// Opsgenie and Discord refused every connection, so none reached
	// them.
	Tried map[string]int
}

// outageRoute is the route the outage scenario posts to.
const outageRoute = "critical"

// Outage asks every upstream to wait with a 429 and Retry-After, then
// takes the upstreams down for plan.Outage while incidents change on the
// receiver, and brings them back: every state must then reach every
// channel, in order.
func Outage(t testing.TB, bin string, plan OutagePlan) (Figures, OutageReport) {
	t.Helper()
	start := time.Now()
	ctx := t.Context()
	g := NewRig(t, bin, "", []string{outageRoute})
	g.Receiver.Start(t)
	client := &http.Client{Timeout: time.Minute}
	rep := OutageReport{Tried: map[string]int{}}

	for _, kind := range Kinds {
		g.Upstreams.Inject429(kind, plan.RetryAfter)
	}
	mustPost(t, client, g.Webhook(outageRoute), GroupMessage("ChaosRetryAfter", "job-00", 1, false))
	if _, o, err := g.Settle(ctx, plan.RetryAfter+plan.Wait, everything); err != nil || len(o.Problems()) > 0 {
		t.Fatalf("the notification after the 429s did not arrive everywhere: %v %v", err, o.Problems())
	}
	rep.RetryAfterGap = retryAfterGaps(g.Upstreams)

	down, up := stageOutage(t, g.Upstreams)
	from := time.Now()
	posts := plan.Incidents * (plan.Steps + 1)
	for i := range posts {
		incident, step := i%plan.Incidents, i/plan.Incidents
		firing := min(step+1, plan.Steps)
		m := GroupMessage(fmt.Sprintf("ChaosOutage%02d", incident), "job-00", firing, step == plan.Steps)
		mustPost(t, client, g.Webhook(outageRoute), m)
		pace(ctx, from.Add(plan.Outage*time.Duration(i+1)/time.Duration(posts)))
	}
	healed := time.Now()
	up()
	for kind, p := range g.Upstreams.Proxies {
		for _, ex := range p.Exchanges() {
			if ex.Start.After(down) && ex.Start.Before(healed) {
				rep.Tried[kind]++
			}
		}
	}
	w, o, err := g.Settle(ctx, plan.Wait, everything)
	if err != nil {
		t.Fatal(err)
	}
	return g.figures("upstream outage", w, o, start), rep
}

// stageOutage takes the upstreams down: PagerDuty and Slack answer 500,
// Opsgenie and Discord refuse connections. It returns when and the
// function that brings them back.
func stageOutage(t testing.TB, up *Upstreams) (time.Time, func()) {
	t.Helper()
	p := up.Proxies
	p[PagerDuty].FailWith(http.StatusInternalServerError)
	p[Slack].FailWith(http.StatusInternalServerError)
	for _, kind := range []string{Opsgenie, Discord} {
		if err := p[kind].Refuse(); err != nil {
			t.Fatal(err)
		}
	}
	return time.Now(), func() {
		p[PagerDuty].FailWith(0)
		p[Slack].FailWith(0)
		for _, kind := range []string{Opsgenie, Discord} {
			if err := p[kind].Accept(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// retryAfterGaps measures, per kind, the time from the first 429 the
// fake gave to the next request it got.
func retryAfterGaps(up *Upstreams) map[string]time.Duration {
	gaps := map[string]time.Duration{}
	for _, kind := range Kinds {
		exs := up.Proxies[kind].Exchanges()
		slices.SortFunc(exs, func(a, b Exchange) int { return a.Start.Compare(b.Start) })
		i := slices.IndexFunc(exs, func(ex Exchange) bool { return ex.Status == http.StatusTooManyRequests })
		if i < 0 || i+1 == len(exs) {
			continue
		}
		gaps[kind] = exs[i+1].Start.Sub(exs[i].End)
	}
	return gaps
}

// everything is a Settle condition that waits for the deliveries alone.
func everything(Webhooks) error { return nil }

// pace waits until t: the scenario's own schedule, not a wait for the
// system under test.
func pace(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

// mustPost posts m as Alertmanager would and fails t unless the receiver
// takes it.
func mustPost(t testing.TB, client *http.Client, url string, m *alert.Message) {
	t.Helper()
	body, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	code, answer, err := Post(t.Context(), client, url, body, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("POST %s: %d %s %v, want 200", url, code, answer, err)
	}
}

// chaosStart is the start of the alerts the scenarios post themselves.
var chaosStart = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

// GroupMessage is Alertmanager's notification for the critical group
// alertname=name, job=job with firing alerts, all of them resolved when
// resolved is set.
func GroupMessage(name, job string, firing int, resolved bool) *alert.Message {
	status := alert.StatusFiring
	if resolved {
		status = alert.StatusResolved
	}
	group := map[string]string{"alertname": name, "job": job}
	m := &alert.Message{
		Version:           "4",
		GroupKey:          fmt.Sprintf(`{}/{severity="critical"}:{alertname=%q, job=%q}`, name, job),
		Status:            status,
		Receiver:          "critical",
		GroupLabels:       group,
		CommonLabels:      map[string]string{"alertname": name, "job": job, "severity": "critical"},
		CommonAnnotations: map[string]string{"summary": "chaos"},
		ExternalURL:       "http://alertmanager:9093",
	}
	for i := range firing {
		a := alert.Alert{
			Status:      status,
			Labels:      map[string]string{"alertname": name, "job": job, "severity": "critical", "instance": fmt.Sprintf("host-%03d:9100", i)},
			Annotations: map[string]string{"summary": "chaos"},
			StartsAt:    chaosStart,
			Fingerprint: fmt.Sprintf("%s/%s/%03d", name, job, i),
		}
		if resolved {
			a.EndsAt = chaosStart.Add(time.Hour)
		}
		m.Alerts = append(m.Alerts, a)
	}
	return m
}

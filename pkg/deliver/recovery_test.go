package deliver_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
)

// pagerdutyUpstream is the real PagerDuty notifier with its fake upstream.
func pagerdutyUpstream(t *testing.T) (*pagerduty.Notifier, *pagerdutytest.Server) {
	t.Helper()
	fake := pagerdutytest.NewServer()
	t.Cleanup(fake.Close)
	tmpl, err := notify.NewTemplate(nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := pagerduty.New(&pagerduty.Config{
		RoutingKey: "0123456789abcdef0123456789abcdef", URL: fake.URL(), Summary: pagerduty.DefaultSummary,
		Source: pagerduty.DefaultSource, Severity: pagerduty.DefaultSeverities(), DefaultSeverity: pagerduty.DefaultSeverity,
		Client: pagerduty.DefaultClient, Timeout: pagerduty.DefaultTimeout,
	}, notify.Options{Template: tmpl, Client: &http.Client{}, Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return n, fake
}

// TestSuccessReleasesBackedOffDeliveries: after an outage the channel's
// deliveries wait for retries up to an hour away; the first delivery that
// gets through makes them due, and they go out at once, in order per
// incident, without the clock moving.
func TestSuccessReleasesBackedOffDeliveries(t *testing.T) {
	n, fake := pagerdutyUpstream(t)
	fake.FailNext(3, fakeapi.Fault{Status: http.StatusServiceUnavailable})
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: n}}, func(o *deliver.Options) {
		o.Backoff = deliver.Backoff{Initial: time.Hour, Max: time.Hour, Factor: 2}
	})
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	h.ingest(t, "inc2", "a", notify.KindTrigger, "pager")
	h.store.waitEvents(t, 2)
	h.ingest(t, "inc1", "b", notify.KindResolve, "pager") // waits behind inc1's trigger
	h.ingest(t, "inc3", "a", notify.KindTrigger, "pager")
	for _, e := range h.store.waitEvents(t, 3) {
		if e.Op != "reschedule" || !e.At.After(t0) {
			t.Fatalf("during the outage: %+v, want a retry after %s", e, t0)
		}
	}

	// The upstream is back: a new delivery gets through, and the rest
	// follow it. inc1's resolve, claimed with its trigger, is handed back
	// for the channel's next turn.
	h.ingest(t, "inc4", "a", notify.KindTrigger, "pager")
	testenv.Eventually(t, wait, func() error {
		if n := completes(h.store.Events()); n < 5 {
			return fmt.Errorf("%d deliveries done, want 5", n)
		}
		return nil
	})
	for _, e := range h.store.Events()[3:] {
		if e.Op != "complete" && e.Op != "postpone" || !e.At.Equal(t0) {
			t.Errorf("after the first success: %+v, want complete (or handed back) at %s", e, t0)
		}
	}
	var got []string
	for _, ev := range fake.Received() {
		got = append(got, ev.DedupKey+" "+ev.EventAction)
	}
	trigger, resolve := slices.Index(got, "inc1 trigger"), slices.Index(got, "inc1 resolve")
	if len(got) != 5 || trigger < 0 || resolve < trigger {
		t.Errorf("PagerDuty received %v, want every incident's events, inc1's trigger before its resolve", got)
	}
}

func completes(events []event) int {
	n := 0
	for _, e := range events {
		if e.Op == "complete" {
			n++
		}
	}
	return n
}

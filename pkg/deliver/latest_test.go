package deliver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty"
)

// slowPager is the real PagerDuty notifier, still notify.LatestOnly,
// whose first send is held until release: a slow upstream, behind which
// a storm's states pile up. It records the state (the alert's
// fingerprint) of each notification it sends.
type slowPager struct {
	*pagerduty.Notifier
	entered, release chan struct{}
	// fail, if set, answers the call of that number (0 for the first)
	// in the upstream's place when it returns an error.
	fail func(call int) error

	mu   sync.Mutex
	sent []string
}

func newSlowPager(n *pagerduty.Notifier) *slowPager {
	return &slowPager{Notifier: n, entered: make(chan struct{}), release: make(chan struct{})}
}

func (p *slowPager) Notify(ctx context.Context, n *notify.Notification) error {
	p.mu.Lock()
	call := len(p.sent)
	p.sent = append(p.sent, string(n.Kind)+" "+n.Message.Alerts[0].Fingerprint)
	p.mu.Unlock()
	if call == 0 {
		close(p.entered)
		<-p.release
	}
	if p.fail != nil {
		if err := p.fail(call); err != nil {
			return err
		}
	}
	return p.Notifier.Notify(ctx, n)
}

func (p *slowPager) Sent() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.sent...)
}

// stormState is the kind of state i (1 to 20) of the storm: firing with
// more alerts up to 15, resolved at 16, firing again from 17.
func stormState(i int) notify.Kind {
	if i == 16 {
		return notify.KindResolve
	}
	return notify.KindTrigger
}

// TestStormToPagerDuty: 20 states of one incident arrive while PagerDuty
// is slow to take the first. The channel gets four events, not twenty:
// the first, the latest trigger before the resolve, the resolve and the
// latest state, in that order, so PagerDuty closes the alert and opens a
// new one as the incident fires again. The 16 skipped deliveries are
// done, each noted as superseded by a delivery that was sent, and
// counted.
func TestStormToPagerDuty(t *testing.T) {
	n, fake := pagerdutyUpstream(t)
	pager := newSlowPager(n)
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager, Integration: "pagerduty"}}, oneWorker)
	h.ingest(t, "inc1", "s01", stormState(1), "pager")
	<-pager.entered
	for i := 2; i <= 20; i++ {
		h.ingest(t, "inc1", fmt.Sprintf("s%02d", i), stormState(i), "pager")
	}
	close(pager.release)
	testenv.Eventually(t, wait, func() error {
		stats, err := h.store.Stats(context.Background())
		if err != nil || len(stats) > 0 {
			return fmt.Errorf("outbox: %+v, %v", stats, err)
		}
		return nil
	})

	want := []string{"trigger s01", "trigger s15", "resolve s16", "trigger s20"}
	if diff := cmp.Diff(want, pager.Sent()); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	var actions []string
	for _, ev := range fake.Received() {
		actions = append(actions, ev.EventAction)
	}
	if diff := cmp.Diff([]string{"trigger", "trigger", "resolve", "trigger"}, actions); diff != "" {
		t.Errorf("PagerDuty's events (-want +got):\n%s", diff)
	}

	done, superseded := map[int64]bool{}, map[int64]string{}
	for _, e := range h.store.Events() {
		switch e.Op {
		case "complete":
			done[e.ID] = true
		case "settle-superseded":
			for _, id := range e.IDs {
				superseded[id] = e.Text
			}
		}
	}
	if len(done) != 4 || len(superseded) != 16 {
		t.Fatalf("%d done and %d superseded, want 4 and 16", len(done), len(superseded))
	}
	for id, note := range superseded {
		var by int64
		if _, err := fmt.Sscanf(note, "superseded by delivery %d", &by); err != nil || !done[by] {
			t.Errorf("delivery %d: %q, want superseded by a delivery sent", id, note)
		}
	}
	const metric = `
# HELP klaxon_receiver_notifications_superseded_total Notifications not sent because a later state of their incident was delivered to the channel in their place (PagerDuty, Opsgenie).
# TYPE klaxon_receiver_notifications_superseded_total counter
klaxon_receiver_notifications_superseded_total{channel="pager"} 16
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(metric), "klaxon_receiver_notifications_superseded_total"); err != nil {
		t.Error(err)
	}
}

// TestLatestWaitsForItsRetry: when the latest state fails, the
// deliveries it would supersede are not: they wait for its retry with
// it, and once the upstream takes it they are superseded.
func TestLatestWaitsForItsRetry(t *testing.T) {
	n, _ := pagerdutyUpstream(t)
	pager := newSlowPager(n)
	pager.fail = func(call int) error {
		if call == 1 {
			return retryable("upstream answered 503", 0)
		}
		return nil
	}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, oneWorker)
	h.ingest(t, "inc1", "s01", notify.KindTrigger, "pager")
	<-pager.entered
	for i := 2; i <= 5; i++ {
		h.ingest(t, "inc1", fmt.Sprintf("s%02d", i), notify.KindTrigger, "pager")
	}
	close(pager.release)
	testenv.Eventually(t, wait, func() error {
		for _, e := range h.store.Events() {
			if e.Op == "settle-postponed" {
				return nil
			}
		}
		return fmt.Errorf("the skipped deliveries are not handed back: %+v", h.store.Events())
	})
	var retryAt time.Time
	for _, e := range h.store.Events() {
		switch e.Op {
		case "reschedule":
			retryAt = e.At
		case "settle-superseded":
			t.Fatalf("superseded by a failed send: %+v", e)
		case "settle-postponed":
			if !e.At.Equal(retryAt) || len(e.IDs) != 3 {
				t.Errorf("handed back: %+v, want the three skipped until the retry at %s", e, retryAt)
			}
		}
	}

	h.clock.Set(retryAt)
	h.d.Wake()
	testenv.Eventually(t, wait, func() error {
		if stats, err := h.store.Stats(context.Background()); err != nil || len(stats) > 0 {
			return fmt.Errorf("outbox: %+v, %v", stats, err)
		}
		return nil
	})
	if diff := cmp.Diff([]string{"trigger s01", "trigger s05", "trigger s05"}, pager.Sent()); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	superseded := 0
	for _, e := range h.store.Events() {
		if e.Op == "settle-superseded" {
			superseded += len(e.IDs)
		}
	}
	if superseded != 3 {
		t.Errorf("%d superseded after the retry, want 3", superseded)
	}
}

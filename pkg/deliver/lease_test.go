package deliver_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// blocked is a notifier whose first send waits until the test releases
// it or the send's context ends.
func blocked(t *testing.T) (*fakeNotifier, <-chan struct{}, func()) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	f := &fakeNotifier{answer: func(ctx context.Context, call int, _ *notify.Notification) error {
		if call == 0 {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}}
	var done bool
	free := func() {
		if !done {
			done = true
			close(release)
		}
	}
	t.Cleanup(free)
	return f, entered, free
}

// claimNow claims for another replica, straight from the store.
func claimNow(t *testing.T, h *harness) []store.Delivery {
	t.Helper()
	got, err := h.store.Store.Claim(context.Background(), h.clock.Now(), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestLeaseRenewedWhileUnderWay: a send that takes longer than the lease
// keeps its delivery, as the Deliverer renews the lease while it works.
func TestLeaseRenewedWhileUnderWay(t *testing.T) {
	slow, entered, free := blocked(t)
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: slow}}, func(o *deliver.Options) { o.Lease = deliver.MinLease })
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	h.d.Wake()
	<-entered
	// Two leases go by, a third of one at a time, each step once the
	// lease was renewed after the one before, as a clock's time passes.
	step := deliver.MinLease / 3
	for range 6 {
		h.clock.Advance(step)
		until := h.clock.Now().Add(deliver.MinLease)
		testenv.Eventually(t, wait, func() error {
			for _, e := range h.store.Events() {
				if e.Op == "renew" && !e.At.Before(until) {
					return nil
				}
			}
			return fmt.Errorf("no lease renewed until %s: %+v", until, h.store.Events())
		})
	}
	if got := claimNow(t, h); len(got) != 0 {
		t.Errorf("another replica took over a delivery under way, twice its lease after the claim: %+v", got)
	}
	free()
	h.store.waitEvents(t, 1)
	testenv.Eventually(t, wait, func() error {
		for _, e := range h.store.Events() {
			if e.Op == "complete" {
				return nil
			}
		}
		return fmt.Errorf("not completed: %+v", h.store.Events())
	})
	if n := len(slow.Calls()); n != 1 {
		t.Errorf("sent %d times, want once", n)
	}
}

// TestLeaseTakenOverWhenNotRenewed: a delivery whose worker can no longer
// renew its lease (a replica that died or lost the store) is taken over
// once the lease ends, not after the longest an attempt may take.
func TestLeaseTakenOverWhenNotRenewed(t *testing.T) {
	slow, entered, free := blocked(t)
	defer free()
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: slow}}, func(o *deliver.Options) { o.Lease = deliver.MinLease })
	h.store.failRenews.Store(true)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	h.d.Wake()
	<-entered
	if got := claimNow(t, h); len(got) != 0 {
		t.Fatalf("claimed by another replica during the lease: %+v", got)
	}
	h.clock.Advance(deliver.MinLease)
	got := claimNow(t, h)
	if len(got) != 1 || got[0].IncidentKey != "inc1" || !got[0].TakenOver {
		t.Fatalf("after one lease without renewal, another replica claimed %+v, want inc1's delivery, taken over", got)
	}
	// The first attempt ends after all: its outcome is the new claim's to
	// record, not its own.
	free()
	testenv.Eventually(t, wait, func() error {
		if n := metricValue(t, h, "klaxon_receiver_leases_lost_total"); n != 1 {
			return fmt.Errorf("leases lost: %v, want 1", n)
		}
		return nil
	})
	if err := h.store.Store.Complete(context.Background(), got[0].Lease(), h.clock.Now()); err != nil {
		t.Errorf("the new claim's outcome: %v", err)
	}
	if n := metricValue(t, h, "klaxon_receiver_leases_held"); n != 0 {
		t.Errorf("leases held after the attempt ended: %v", n)
	}
}

// metricValue is the value of the metric name, without labels, in h's
// registry.
func metricValue(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestStoreWritableFollowsClaims: the Deliverer says the store is not
// writable once a claim fails, and writable again once one succeeds.
func TestStoreWritableFollowsClaims(t *testing.T) {
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: &fakeNotifier{}}}, nil)
	if !h.d.StoreWritable() {
		t.Fatal("not writable at start")
	}
	for _, fail := range []bool{true, false} {
		h.store.failClaims.Store(fail)
		testenv.Eventually(t, wait, func() error {
			h.d.Wake()
			if h.d.StoreWritable() == fail {
				return fmt.Errorf("writable %v with claims failing %v", h.d.StoreWritable(), fail)
			}
			return nil
		})
	}
}

// pause is a Preparer that holds the first notification it readies until
// the test opens it: a worker stopped between its claim and its send, as
// a process under SIGSTOP is.
type pause struct {
	entered chan struct{}
	resume  chan struct{}
	calls   atomic.Int64
	once    sync.Once
}

func newPause(t *testing.T) *pause {
	g := &pause{entered: make(chan struct{}, 1), resume: make(chan struct{})}
	t.Cleanup(g.release)
	return g
}

func (g *pause) Prepare(*notify.Notification) {
	if g.calls.Add(1) == 1 {
		g.entered <- struct{}{}
		<-g.resume
	}
}

func (g *pause) release() { g.once.Do(func() { close(g.resume) }) }

// TestLeaseLostBeforeTheSend: a worker that wakes up after its lease ran
// out (its process was stopped longer than a lease) renews the lease
// before it sends; when another replica took the delivery over meanwhile,
// it does not send it, as the new claim does, and when nobody did, it
// sends.
func TestLeaseLostBeforeTheSend(t *testing.T) {
	for _, takenOver := range []bool{true, false} {
		t.Run(fmt.Sprintf("taken over %v", takenOver), func(t *testing.T) {
			pager := &fakeNotifier{}
			g := newPause(t)
			h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, func(o *deliver.Options) {
				o.Lease = deliver.MinLease
				o.Preparer = g
			})
			// Stopped, the worker renews nothing.
			h.store.failRenews.Store(true)
			h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
			<-g.entered
			h.clock.Advance(deliver.MinLease)
			var other []store.Delivery
			if takenOver {
				other = claimNow(t, h)
				if len(other) != 1 || !other[0].TakenOver {
					t.Fatalf("another replica claimed %+v, want the delivery, taken over", other)
				}
			}
			// It wakes up, and the store answers again.
			h.store.failRenews.Store(false)
			g.release()
			testenv.Eventually(t, wait, func() error {
				if n := metricValue(t, h, "klaxon_receiver_leases_held"); n != 0 {
					return fmt.Errorf("leases held: %v", n)
				}
				return nil
			})
			if takenOver {
				if n := len(pager.Calls()); n != 0 {
					t.Errorf("sent %d times a delivery another replica had taken over, want none", n)
				}
				if n := metricValue(t, h, "klaxon_receiver_leases_lost_total"); n != 1 {
					t.Errorf("leases lost: %v, want 1", n)
				}
				if err := h.store.Store.Complete(context.Background(), other[0].Lease(), h.clock.Now()); err != nil {
					t.Errorf("the new claim's outcome: %v", err)
				}
				return
			}
			if n := len(pager.Calls()); n != 1 {
				t.Errorf("sent %d times a delivery whose lease ran out with nobody taking it over, want once", n)
			}
			if got := claimNow(t, h); len(got) != 0 {
				t.Errorf("claimable after it was sent: %+v", got)
			}
		})
	}
}

// TestLeaseLostBeforeTheSendStoreDown: a worker whose lease ran out and
// cannot reach the store to renew it does not send: another replica may
// have taken the delivery over.
func TestLeaseLostBeforeTheSendStoreDown(t *testing.T) {
	pager := &fakeNotifier{}
	g := newPause(t)
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, func(o *deliver.Options) {
		o.Lease = deliver.MinLease
		o.Preparer = g
	})
	h.store.failRenews.Store(true)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	<-g.entered
	h.clock.Advance(deliver.MinLease)
	g.release()
	testenv.Eventually(t, wait, func() error {
		if n := metricValue(t, h, "klaxon_receiver_leases_lost_total"); n != 1 {
			return fmt.Errorf("leases lost: %v, want 1", n)
		}
		return nil
	})
	if n := len(pager.Calls()); n != 0 {
		t.Errorf("sent %d times with a lapsed lease it could not renew, want none", n)
	}
	got := claimNow(t, h)
	if len(got) != 1 {
		t.Errorf("after the lost lease another replica claimed %+v, want the delivery", got)
	}
}

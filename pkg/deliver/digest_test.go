package deliver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// fakeDigester is a chat channel that takes digests: each covers at most
// fit notifications (all when 0), and answer scripts the outcome of
// each digest (nil: success).
type fakeDigester struct {
	fakeNotifier
	fit    int
	answer func(call int, ns []*notify.Notification) error

	mu      sync.Mutex
	digests [][]int64
}

func (f *fakeDigester) MaxDigest() int { return 10 }

func (f *fakeDigester) NotifyDigest(_ context.Context, ns []*notify.Notification) (int, error) {
	covered := len(ns)
	if f.fit > 0 {
		covered = min(covered, f.fit)
	}
	f.mu.Lock()
	call := len(f.digests)
	var ids []int64
	for _, n := range ns[:covered] {
		ids = append(ids, n.ID)
	}
	f.digests = append(f.digests, ids)
	f.mu.Unlock()
	if f.answer == nil {
		return covered, nil
	}
	return covered, f.answer(call, ns[:covered])
}

// Digests are the ids each digest covered, in the order given.
func (f *fakeDigester) Digests() [][]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]int64(nil), f.digests...)
}

// oneWorker makes the test's claims deterministic: the worker holds one
// delivery and takes the rest along.
func oneWorker(o *deliver.Options) { o.Workers = 1 }

// ingestBefore records deliveries before the workers start, so that they
// are all due at the channel's first turn.
func ingestBefore(t *testing.T, path string, ins ...*store.Ingest) {
	t.Helper()
	st := openStore(t, path)
	for _, in := range ins {
		if _, err := st.Ingest(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// threeIncidents are three triggers, and a resolve of the first after
// the third, on channel chat.
func threeIncidents(t *testing.T, at time.Time) []*store.Ingest {
	return []*store.Ingest{
		newIngest(t, at, "inc1", "a", notify.KindTrigger, "chat"),
		newIngest(t, at, "inc2", "a", notify.KindTrigger, "chat"),
		newIngest(t, at, "inc3", "a", notify.KindTrigger, "chat"),
		newIngest(t, at, "inc1", "b", notify.KindResolve, "chat"),
	}
}

// TestDigestCoversWhatWaits: the deliveries due when the channel's turn
// comes go in one message, in order: an incident's resolve comes along
// after its trigger, which the worker held; all are done together.
func TestDigestCoversWhatWaits(t *testing.T) {
	path := t.TempDir() + "/klaxon.db"
	ingestBefore(t, path, threeIncidents(t, t0)...)
	chat := &fakeDigester{}
	h := startOn(t, path, testkit.NewClock(t0), map[string]deliver.Channel{"chat": {Notifier: chat}}, oneWorker)
	events := h.store.waitEvents(t, 1)
	if diff := cmp.Diff([]event{{Op: "settle-done", IDs: []int64{1, 2, 3, 4}, At: t0}}, events); diff != "" {
		t.Fatalf("store calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]int64{{1, 2, 3, 4}}, chat.Digests()); diff != "" {
		t.Errorf("digests (-want +got):\n%s", diff)
	}
	if n := len(chat.Calls()); n != 0 {
		t.Errorf("%d messages of their own besides the digest", n)
	}
	for name, want := range map[string]float64{"klaxon_receiver_digests_total": 1, "klaxon_receiver_notifications_coalesced_total": 4} {
		if got := gathered(t, h, name); got != want {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}
}

// gathered is the value of a counter of the chat channel.
func gathered(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "chat" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s for channel chat", name)
	return 0
}

// TestDigestNotForOtherChannels: a notifier that is not a Digester, such
// as PagerDuty's, gets every delivery on its own.
func TestDigestNotForOtherChannels(t *testing.T) {
	path := t.TempDir() + "/klaxon.db"
	ingestBefore(t, path, threeIncidents(t, t0)...)
	chat := &fakeNotifier{}
	h := startOn(t, path, testkit.NewClock(t0), map[string]deliver.Channel{"chat": {Notifier: chat}}, oneWorker)
	h.store.waitEvents(t, 4)
	if n := len(chat.Calls()); n != 4 {
		t.Errorf("%d messages, want one per delivery", n)
	}
}

// TestDigestRetriedWhole: a digest that meets a 429 is retried whole,
// after Retry-After, and the next digest covers the same deliveries.
func TestDigestRetriedWhole(t *testing.T) {
	path := t.TempDir() + "/klaxon.db"
	ingestBefore(t, path, threeIncidents(t, t0)...)
	chat := &fakeDigester{answer: func(call int, _ []*notify.Notification) error {
		if call == 0 {
			return retryable("upstream answered 429 Too Many Requests", 30*time.Second)
		}
		return nil
	}}
	h := startOn(t, path, testkit.NewClock(t0), map[string]deliver.Channel{"chat": {Notifier: chat}}, oneWorker)
	want := event{Op: "settle-retry", IDs: []int64{1, 2, 3, 4}, At: t0.Add(30 * time.Second), Text: "upstream answered 429 Too Many Requests"}
	if diff := cmp.Diff(want, h.store.waitEvents(t, 1)[0]); diff != "" {
		t.Fatalf("after the 429 (-want +got):\n%s", diff)
	}
	h.clock.Advance(30 * time.Second)
	h.d.Wake()
	want = event{Op: "settle-done", IDs: []int64{1, 2, 3, 4}, At: t0.Add(30 * time.Second)}
	if diff := cmp.Diff(want, h.store.waitEvents(t, 2)[1]); diff != "" {
		t.Fatalf("after Retry-After (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]int64{{1, 2, 3, 4}, {1, 2, 3, 4}}, chat.Digests()); diff != "" {
		t.Errorf("digests (-want +got):\n%s", diff)
	}
	dels, err := h.store.DeadLetters(context.Background())
	if err != nil || len(dels) != 0 {
		t.Errorf("dead letters %+v, %v", dels, err)
	}
}

// TestDigestPermanentFailure: a digest the upstream refuses makes every
// delivery it covered a dead letter.
func TestDigestPermanentFailure(t *testing.T) {
	path := t.TempDir() + "/klaxon.db"
	ingestBefore(t, path, threeIncidents(t, t0)...)
	refused := notify.Errorf(notify.ReasonClientError, "upstream answered 400 Bad Request: invalid_payload")
	chat := &fakeDigester{answer: func(int, []*notify.Notification) error { return refused }}
	h := startOn(t, path, testkit.NewClock(t0), map[string]deliver.Channel{"chat": {Notifier: chat}}, oneWorker)
	want := []event{{Op: "settle-dead", IDs: []int64{1, 2, 3, 4}, Text: "upstream answered 400 Bad Request: invalid_payload"}}
	if diff := cmp.Diff(want, h.store.waitEvents(t, 1)); diff != "" {
		t.Fatalf("store calls (-want +got):\n%s", diff)
	}
	dead, err := h.store.DeadLetters(context.Background())
	if err != nil || len(dead) != 4 {
		t.Fatalf("dead letters: %d, %v; want 4", len(dead), err)
	}
}

// TestDigestMaxAge: when a digest fails, the deliveries tried for MaxAge
// become dead letters and the others are retried.
func TestDigestMaxAge(t *testing.T) {
	path := t.TempDir() + "/klaxon.db"
	ingestBefore(t, path,
		newIngest(t, t0.Add(-2*time.Hour), "inc1", "a", notify.KindTrigger, "chat"),
		newIngest(t, t0, "inc2", "a", notify.KindTrigger, "chat"))
	chat := &fakeDigester{answer: func(int, []*notify.Notification) error { return retryable("upstream answered 503", 0) }}
	h := startOn(t, path, testkit.NewClock(t0), map[string]deliver.Channel{"chat": {Notifier: chat}}, func(o *deliver.Options) {
		o.Workers, o.MaxAge = 1, time.Hour
	})
	events := h.store.waitEvents(t, 2)
	if diff := cmp.Diff(event{Op: "settle-dead", IDs: []int64{1}, Text: "gave up after 1h0m0s: upstream answered 503"}, events[0]); diff != "" {
		t.Errorf("the delivery past MaxAge (-want +got):\n%s", diff)
	}
	if e := events[1]; e.Op != "settle-retry" || !cmp.Equal(e.IDs, []int64{2}) || e.At.Before(t0) || e.At.After(t0.Add(time.Second)) {
		t.Errorf("the other delivery: %+v, want a retry within the first backoff", e)
	}
}

// TestDigestHandsBackWhatDoesNotFit: deliveries a digest could not cover
// go back to the outbox at once and are sent at the channel's next turn.
func TestDigestHandsBackWhatDoesNotFit(t *testing.T) {
	path := t.TempDir() + "/klaxon.db"
	ingestBefore(t, path, threeIncidents(t, t0)...)
	chat := &fakeDigester{fit: 2}
	h := startOn(t, path, testkit.NewClock(t0), map[string]deliver.Channel{"chat": {Notifier: chat}}, oneWorker)
	want := []event{
		{Op: "settle-postponed", IDs: []int64{3, 4}, At: t0},
		{Op: "settle-done", IDs: []int64{1, 2}, At: t0},
		{Op: "settle-done", IDs: []int64{3, 4}, At: t0},
	}
	if diff := cmp.Diff(want, h.store.waitEvents(t, 3)); diff != "" {
		t.Fatalf("store calls (-want +got):\n%s", diff)
	}
}

// TestDigestResentAfterACrash: when recording a delivered digest fails
// for good, as if the process died after the send, the digest is sent
// again once the leases expire: delivery is at least once.
func TestDigestResentAfterACrash(t *testing.T) {
	chat := &fakeDigester{}
	h := start(t, map[string]deliver.Channel{"chat": {Notifier: chat}}, oneWorker)
	h.store.failSettles.Store(3)
	// Accepted a second ahead of the clock, so that all are due at once.
	for _, in := range threeIncidents(t, t0.Add(time.Second)) {
		if _, err := h.store.Ingest(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Advance(time.Second)
	h.d.Wake()
	// Recording the digest fails until the worker gives up; then only
	// the leases are left.
	h.store.waitEvents(t, 3)
	h.clock.Advance(time.Hour)
	h.d.Wake()
	events := h.store.waitEvents(t, 4)
	if e := events[3]; e.Op != "settle-done" || !cmp.Equal(e.IDs, []int64{1, 2, 3, 4}) {
		t.Fatalf("after the leases expired: %+v, want the digest done", e)
	}
	if diff := cmp.Diff([][]int64{{1, 2, 3, 4}, {1, 2, 3, 4}}, chat.Digests()); diff != "" {
		t.Errorf("digests (-want +got):\n%s", diff)
	}
}

// TestHandBackReleasesTheLeases: a digest refused at the last moment (the
// upstream asked for a hold while its worker waited for the channel's
// turn) goes back to the outbox with what it took along, and the worker
// lets go of every lease: none is renewed for ever.
func TestHandBackReleasesTheLeases(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	chat := &fakeDigester{}
	chat.fakeNotifier.answer = func(ctx context.Context, call int, _ *notify.Notification) error {
		if call > 0 {
			return nil
		}
		entered <- struct{}{}
		<-release
		return retryable("429 Too Many Requests", time.Hour)
	}
	every := 4 * time.Second // the second worker's wait, less than the longest it waits holding a delivery
	h := start(t, map[string]deliver.Channel{"chat": {Notifier: chat, Limit: notify.Limit{Every: every, Burst: 1}}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "chat")
	<-entered
	// The second worker claims the next and waits for its turn.
	h.ingest(t, "inc2", "a", notify.KindTrigger, "chat")
	testenv.Eventually(t, wait, func() error {
		if n := metricValue(t, h, "klaxon_receiver_leases_held"); n != 2 {
			return fmt.Errorf("leases held: %v, want 2", n)
		}
		return nil
	})
	// The 429 while it waits; the first worker finds nothing more.
	from := h.store.emptyClaims.Load()
	close(release)
	testenv.Eventually(t, wait, func() error {
		if h.store.emptyClaims.Load() == from {
			return fmt.Errorf("the first worker has not looked at the outbox again")
		}
		return nil
	})
	// A third delivery, unseen by the idle worker, for the waiting one
	// to take along.
	if _, err := h.store.Ingest(context.Background(), newIngest(t, h.clock.Now(), "inc3", "a", notify.KindTrigger, "chat")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, wait, func() error {
		for _, e := range h.store.Events() {
			if e.Op == "settle-postponed" && len(e.IDs) == 2 {
				return nil
			}
		}
		return fmt.Errorf("the waiting worker's digest was not handed back: %+v", h.store.Events())
	})
	testenv.Eventually(t, wait, func() error {
		if n := metricValue(t, h, "klaxon_receiver_leases_held"); n != 0 {
			return fmt.Errorf("leases held after every delivery went back to the outbox: %v", n)
		}
		return nil
	})
	if n := len(chat.Digests()); n != 0 {
		t.Errorf("sent %d digests into the hold", n)
	}
}

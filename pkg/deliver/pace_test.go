package deliver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// memoryPacer is a store.Pacer kept in memory, deciding as the drivers
// do (store.Turn), for Deliverers that stand for replicas on one store.
type memoryPacer struct {
	mu        sync.Mutex
	tat, held map[string]time.Time
}

func newMemoryPacer() *memoryPacer {
	return &memoryPacer{tat: map[string]time.Time{}, held: map[string]time.Time{}}
}

func (p *memoryPacer) Pace(_ context.Context, channel string, now time.Time, pace store.Pace) (time.Time, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	turn, ok, next := store.Turn(p.tat[channel], p.held[channel], now, pace)
	if ok {
		p.tat[channel] = next
	}
	return turn, ok, nil
}

func (p *memoryPacer) Hold(_ context.Context, channel string, until time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if until.After(p.held[channel]) {
		p.held[channel] = until
	}
	return nil
}

// waitPostponed waits for h to hand a delivery back, and returns until
// when.
func waitPostponed(t *testing.T, h *harness) time.Time {
	t.Helper()
	var at time.Time
	testenv.Eventually(t, wait, func() error {
		for _, e := range h.store.Events() {
			if e.Op == "postpone" {
				at = e.At
				return nil
			}
		}
		return fmt.Errorf("nothing handed back: %+v", h.store.Events())
	})
	return at
}

// TestSharedPaceAcrossReplicas: two replicas on one store send to a
// channel allowed one message a minute. While the first replica's send is
// under way, the second, which has the next incident, hands it back until
// the channel's next turn instead of sending beside it; then it sends.
func TestSharedPaceAcrossReplicas(t *testing.T) {
	pacer := newMemoryPacer()
	shared := func(o *deliver.Options) { o.Workers, o.Pacer = 1, pacer }
	limit := notify.Limit{Every: time.Minute, Burst: 1}
	slow, entered, free := blocked(t)
	defer free()
	a := start(t, map[string]deliver.Channel{"chat": {Notifier: slow, Limit: limit}}, shared)
	a.ingest(t, "inc1", "a", notify.KindTrigger, "chat")
	<-entered

	other := &fakeNotifier{}
	b := a.replica(t, map[string]deliver.Channel{"chat": {Notifier: other, Limit: limit}}, shared)
	b.ingest(t, "inc2", "a", notify.KindTrigger, "chat")
	if at := waitPostponed(t, b); !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("the second replica handed its delivery back until +%s, want the channel's next turn, +1m0s", at.Sub(t0))
	}
	if n := len(other.Calls()); n != 0 {
		t.Fatalf("the second replica sent %d messages in the minute the first one's send took", n)
	}
	b.clock.Advance(time.Minute)
	b.d.Wake()
	testenv.Eventually(t, wait, func() error {
		if len(other.Calls()) != 1 {
			return fmt.Errorf("the second replica sent %d messages at the channel's next turn, want 1", len(other.Calls()))
		}
		return nil
	})
}

// TestSharedHoldAcrossReplicas: an upstream's Retry-After, given to one
// replica, holds the channel back in the other too.
func TestSharedHoldAcrossReplicas(t *testing.T) {
	pacer := newMemoryPacer()
	shared := func(o *deliver.Options) { o.Pacer = pacer }
	tooMany := &fakeNotifier{answer: answers(retryable("429 Too Many Requests", 30*time.Second))}
	a := start(t, map[string]deliver.Channel{"pager": {Notifier: tooMany}}, shared)
	a.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	a.store.waitEvents(t, 1)

	other := &fakeNotifier{}
	b := a.replica(t, map[string]deliver.Channel{"pager": {Notifier: other}}, shared)
	b.ingest(t, "inc2", "a", notify.KindTrigger, "pager")
	if at := waitPostponed(t, b); !at.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("the other replica handed its delivery back until +%s, want the end of the hold, +30s", at.Sub(t0))
	}
	if n := len(other.Calls()); n != 0 {
		t.Errorf("the other replica sent %d messages into the held channel", n)
	}
}

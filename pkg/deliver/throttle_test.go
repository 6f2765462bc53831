package deliver_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/slack"
)

// gate holds the first send after arm until open, and counts the sends
// it sees meanwhile.
type gate struct {
	notify.Digester
	mu    sync.Mutex
	armed bool
	calls int
	wait  chan struct{}
}

func (g *gate) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.calls, g.wait = true, 0, make(chan struct{})
}

func (g *gate) open() { close(g.wait) }

func (g *gate) Calls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

func (g *gate) pass(ctx context.Context) {
	g.mu.Lock()
	g.calls++
	hold := g.armed && g.calls == 1
	g.mu.Unlock()
	if hold {
		select {
		case <-g.wait:
		case <-ctx.Done():
		}
	}
}

func (g *gate) Notify(ctx context.Context, n *notify.Notification) error {
	g.pass(ctx)
	return g.Digester.Notify(ctx, n)
}

func (g *gate) NotifyDigest(ctx context.Context, ns []*notify.Notification) (int, error) {
	g.pass(ctx)
	return g.Digester.NotifyDigest(ctx, ns)
}

// TestOneProbeIntoAHeldChannel: once a Slack webhook answered 429 with
// Retry-After, the deliveries waiting for it do not go out together when
// the hold ends, though its rate limit has tokens to spare: one worker
// sends, and while that send is under way the other hands its delivery
// back. The second 429 holds them all again; when the upstream takes the
// next probe, the rest follow at once.
func TestOneProbeIntoAHeldChannel(t *testing.T) {
	up := slackUpstream(t)
	g := &gate{Digester: up.notifier}
	tooMany := fakeapi.Fault{Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second}
	up.failNext(1, tooMany)
	h := start(t, map[string]deliver.Channel{"chat": {Notifier: g, Limit: slack.DefaultLimit}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "chat")
	h.store.waitEvents(t, 1)
	h.ingest(t, "inc2", "a", notify.KindTrigger, "chat")
	h.ingest(t, "inc3", "a", notify.KindTrigger, "chat")
	h.store.waitEvents(t, 3) // both postponed until the hold ends

	up.failNext(1, tooMany)
	g.arm()
	h.clock.Advance(30 * time.Second)
	h.d.Wake()
	testenv.Eventually(t, wait, func() error {
		if g.Calls() > 1 {
			return nil // the old fault: the test fails below
		}
		for _, e := range h.store.Events()[3:] {
			if e.Op == "postpone" || e.Op == "settle-postponed" {
				return nil
			}
		}
		return errors.New("no delivery handed back while the first send after the hold is under way")
	})
	g.open()
	testenv.Eventually(t, wait, func() error {
		for _, e := range h.store.Events()[3:] {
			if e.Op == "reschedule" || e.Op == "settle-retry" {
				return nil
			}
		}
		return errors.New("the probe's 429 is not recorded")
	})
	if n := g.Calls(); n != 1 {
		t.Fatalf("%d sends into the channel when its hold ended, want one", n)
	}
	if n := up.attempts(); n != 2 {
		t.Fatalf("the upstream got %d requests, want 2: the first and the probe", n)
	}

	h.clock.Advance(30 * time.Second)
	h.d.Wake()
	testenv.Eventually(t, wait, func() error {
		stats, err := h.store.Stats(context.Background())
		if err != nil || len(stats) > 0 && stats[0].Pending > 0 {
			return errors.New("deliveries still pending after the upstream took the probe")
		}
		return nil
	})
	if n := len(up.messages()); n == 0 || n > 2 {
		t.Errorf("%d messages, want the probe's and maybe one digest", n)
	}
}

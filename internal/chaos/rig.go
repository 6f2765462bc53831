package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Rig is a klaxon-receiver process with the fake upstreams its routes
// deliver to, and a proxy in front of its webhook that records what it
// answered: Alertmanager, or the scenario playing it, posts to Webhook.
type Rig struct {
	Upstreams *Upstreams
	Receiver  *Receiver
	// Front stands in front of the receiver.
	Front *Proxy
}

// NewRig starts the upstreams with a channel of each kind per route of
// routes, and a front proxy, and writes the receiver's config with routes
// and the channel-less routes quiet. The receiver is not started; dataDir
// "" puts its store in a temporary directory.
func NewRig(t testing.TB, bin, dataDir string, routes []string, quiet ...string) *Rig {
	t.Helper()
	up, err := NewUpstreams(routes...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	r := NewReceiver(t, bin, t.TempDir(), dataDir, func(db, external string) string {
		return up.Config(db, external, quiet...)
	})
	front, err := NewProxy(r.URL("/"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(front.Close)
	return &Rig{Upstreams: up, Receiver: r, Front: front}
}

// Webhook is the URL of route's webhook, through the front proxy.
func (g *Rig) Webhook(route string) string { return g.Front.URL + "/webhook/" + route }

// Tally reads what the receiver accepted and reconciles it with what
// the upstreams got.
func (g *Rig) Tally() (Webhooks, Outcome, error) {
	w, err := ReadWebhooks(g.Front.Exchanges())
	if err != nil {
		return w, Outcome{}, err
	}
	msgs, err := g.Upstreams.Messages()
	if err != nil {
		return w, Outcome{}, err
	}
	return w, Reconcile(w.Accepted, msgs, g.Upstreams.Routes()), nil
}

// Settle waits until done says the receiver accepted everything the
// scenario waits for and every accepted notification reached every
// channel, or until wait has passed, and returns the last tally. It does
// not fail: the figures say what did not arrive.
func (g *Rig) Settle(ctx context.Context, wait time.Duration, done func(Webhooks) error) (Webhooks, Outcome, error) {
	deadline := time.Now().Add(wait)
	for {
		w, o, err := g.Tally()
		if err != nil {
			return w, o, err
		}
		ready := done(w)
		if ready == nil && len(o.Problems()) == 0 {
			return w, o, nil
		}
		if time.Now().After(deadline) {
			return w, o, nil
		}
		select {
		case <-ctx.Done():
			return w, o, fmt.Errorf("settling: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Figures are a scenario's results, one row of the table.
type Figures struct {
	Scenario string
	// Alerts counts the alerts posted to Alertmanager; 0 when the
	// scenario posts the webhooks itself.
	Alerts int
	// Posts counts the webhook posts the receiver got; Refused those it
	// answered 5xx or not at all.
	Posts, Refused int
	Outcome
	// Requests counts the requests the upstreams accepted: fewer than
	// Delivered when digests carried several states each.
	Requests int
	// RateLimited counts, by kind, 429s the fakes answered for their
	// own limits.
	RateLimited map[string]int
	// PeakRSS is the receiver's peak resident set, over its processes.
	PeakRSS int64
	// Took is the scenario's wall time.
	Took time.Duration
	// Takeovers are the failover figures of a scenario with replicas.
	Takeovers []Takeover
}

// figures fills the common figures of a scenario from the rig.
func (g *Rig) figures(name string, w Webhooks, o Outcome, start time.Time) Figures {
	return Figures{
		Scenario:    name,
		Posts:       w.Posts,
		Refused:     w.Refused,
		Outcome:     o,
		Requests:    g.Upstreams.Requests(),
		RateLimited: g.Upstreams.RateLimited(),
		PeakRSS:     g.Receiver.PeakRSS(),
		Took:        time.Since(start),
	}
}

// RateLimitedTotal sums RateLimited.
func (f Figures) RateLimitedTotal() int {
	n := 0
	for _, v := range f.RateLimited {
		n += v
	}
	return n
}

package deliver_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

func TestDeliveredOnce(t *testing.T) {
	pager, chat := &fakeNotifier{}, &fakeNotifier{}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}, "chat": {Notifier: chat}}, func(o *deliver.Options) {
		o.Preparer = prepareFunc(func(n *notify.Notification) { n.Mentions = []string{"prepared"} })
	})
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager", "chat")
	h.store.waitEvents(t, 2)
	h.d.Wake()
	h.store.waitIdle(t)

	for name, f := range map[string]*fakeNotifier{"pager": pager, "chat": chat} {
		calls := f.Calls()
		if len(calls) != 1 {
			t.Fatalf("%s called %d times, want once", name, len(calls))
		}
		n := calls[0]
		got := fmt.Sprintf("%s %s %s %s %v %s %s", n.Channel, n.Route, n.IncidentKey, n.Kind, n.Mentions, n.Message.GroupKey, n.CreatedAt.Format(time.RFC3339))
		want := name + ` ops inc1 trigger [prepared] {}:{incident="inc1"} 2026-03-01T12:00:00Z`
		if got != want {
			t.Errorf("%s notification: %s, want %s", name, got, want)
		}
	}
	for _, e := range h.store.Events() {
		if e.Op != "complete" || !e.At.Equal(t0) {
			t.Errorf("store call %+v, want complete at %s", e, t0)
		}
	}
}

func TestPermanentErrorIsADeadLetter(t *testing.T) {
	pager := &fakeNotifier{answer: answers(notify.Errorf(notify.ReasonClientError, "upstream answered 400 Bad Request: invalid_payload"))}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	events := h.store.waitEvents(t, 1)
	if diff := cmp.Diff([]event{{Op: "bury", ID: 1, Text: "upstream answered 400 Bad Request: invalid_payload"}}, events); diff != "" {
		t.Fatalf("store calls (-want +got):\n%s", diff)
	}
	dead, err := h.store.DeadLetters(context.Background())
	if err != nil || len(dead) != 1 || dead[0].LastError != "upstream answered 400 Bad Request: invalid_payload" {
		t.Fatalf("dead letters: %+v, %v", dead, err)
	}
	if n := len(pager.Calls()); n != 1 {
		t.Fatalf("notifier called %d times, want once", n)
	}
}

func TestRetryWithBackoff(t *testing.T) {
	pager := &fakeNotifier{answer: answers(retryable("upstream answered 503", 0), retryable("upstream answered 502", 0))}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")

	// Full jitter: the n-th retry waits at most Initial*Factor^(n-1).
	for i, ceiling := range []time.Duration{time.Second, 2 * time.Second} {
		e := h.store.waitEvents(t, i+1)[i]
		now := h.clock.Now()
		if e.Op != "reschedule" || e.At.Before(now) || e.At.After(now.Add(ceiling)) {
			t.Fatalf("after failure %d: %+v, want a reschedule within %s of %s", i+1, e, ceiling, now)
		}
		h.clock.Advance(time.Minute)
		h.d.Wake()
	}
	if e := h.store.waitEvents(t, 3)[2]; e.Op != "complete" {
		t.Fatalf("third store call %+v, want complete", e)
	}
	if n := len(pager.Calls()); n != 3 {
		t.Fatalf("notifier called %d times, want 3", n)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	pager := &fakeNotifier{answer: answers(retryable("upstream answered 429 Too Many Requests", 30*time.Second))}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	want := event{Op: "reschedule", ID: 1, At: t0.Add(30 * time.Second), Text: "upstream answered 429 Too Many Requests"}
	if diff := cmp.Diff(want, h.store.waitEvents(t, 1)[0]); diff != "" {
		t.Fatalf("after a 429 (-want +got):\n%s", diff)
	}

	h.clock.Advance(29 * time.Second)
	h.d.Wake()
	h.store.waitIdle(t)
	if n := len(pager.Calls()); n != 1 {
		t.Fatalf("retried %d times before Retry-After passed", n-1)
	}
	h.clock.Advance(time.Second)
	h.d.Wake()
	if e := h.store.waitEvents(t, 2)[1]; e.Op != "complete" {
		t.Fatalf("after Retry-After: %+v, want complete", e)
	}
}

// TestChannelHeldAfter429: after a 429 with Retry-After, other deliveries
// to the same channel wait until then without being sent, and deliveries to
// other channels go on.
func TestChannelHeldAfter429(t *testing.T) {
	chat := &fakeNotifier{answer: answers(retryable("upstream answered 429 Too Many Requests", time.Hour))}
	pager := &fakeNotifier{}
	h := start(t, map[string]deliver.Channel{"chat": {Notifier: chat}, "pager": {Notifier: pager}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "chat")
	h.store.waitEvents(t, 1)

	h.ingest(t, "inc2", "a", notify.KindTrigger, "chat")
	h.ingest(t, "inc3", "a", notify.KindTrigger, "pager")
	events := h.store.waitEvents(t, 3)[1:]
	want := map[int64]event{
		2: {Op: "postpone", ID: 2, At: t0.Add(time.Hour)},
		3: {Op: "complete", ID: 3, At: t0},
	}
	for _, e := range events {
		if diff := cmp.Diff(want[e.ID], e); diff != "" {
			t.Errorf("delivery %d (-want +got):\n%s", e.ID, diff)
		}
	}
	if n := len(chat.Calls()); n != 1 {
		t.Fatalf("chat called %d times while held back, want once", n)
	}
	if n := len(pager.Calls()); n != 1 {
		t.Fatalf("pager called %d times, want once", n)
	}
}

func TestRateLimitDefersDeliveries(t *testing.T) {
	chat := &fakeNotifier{}
	h := start(t, map[string]deliver.Channel{"chat": {Notifier: chat, Limit: notify.Limit{Every: time.Hour, Burst: 1}}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "chat")
	h.ingest(t, "inc2", "a", notify.KindTrigger, "chat")
	// Two workers take both; whichever comes second waits an hour.
	events := h.store.waitEvents(t, 2)
	want := []event{
		{Op: "complete", At: t0},
		{Op: "postpone", At: t0.Add(time.Hour)},
	}
	ignoreID := cmpopts.IgnoreFields(event{}, "ID")
	byOp := cmpopts.SortSlices(func(a, b event) bool { return a.Op < b.Op })
	if diff := cmp.Diff(want, events, ignoreID, byOp); diff != "" {
		t.Fatalf("store calls (-want +got):\n%s", diff)
	}
	if n := len(chat.Calls()); n != 1 {
		t.Fatalf("chat called %d times, want once within its rate limit", n)
	}
}

func TestMaxAge(t *testing.T) {
	pager := &fakeNotifier{answer: answers(retryable("upstream answered 503", 0))}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, func(o *deliver.Options) { o.MaxAge = time.Hour })
	h.ingestAt(t, t0.Add(-time.Hour), "inc1", "a", notify.KindTrigger, "pager")
	want := []event{{Op: "bury", ID: 1, Text: "gave up after 1h0m0s: upstream answered 503"}}
	if diff := cmp.Diff(want, h.store.waitEvents(t, 1)); diff != "" {
		t.Fatalf("store calls (-want +got):\n%s", diff)
	}
}

// TestRequeuedDeadLetterGetsAFullWindow: a dead letter that gave up after
// MaxAge is tried for MaxAge again once requeued, measured from the
// requeue, not buried again at its first failure.
func TestRequeuedDeadLetterGetsAFullWindow(t *testing.T) {
	pager := &fakeNotifier{answer: func(context.Context, int, *notify.Notification) error {
		return retryable("upstream answered 503", 0)
	}}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, func(o *deliver.Options) { o.MaxAge = time.Hour })
	h.ingestAt(t, t0.Add(-2*time.Hour), "inc1", "a", notify.KindTrigger, "pager")
	h.store.waitEvents(t, 1)

	res, err := h.store.Requeue(context.Background(), h.clock.Now())
	if err != nil || res.Requeued != 1 {
		t.Fatalf("requeue: %+v, %v", res, err)
	}
	h.d.Wake()
	if e := h.store.waitEvents(t, 2)[1]; e.Op != "reschedule" || e.Text != "upstream answered 503" {
		t.Fatalf("first failure after the requeue: %+v, want a reschedule", e)
	}
	h.clock.Advance(time.Hour)
	h.d.Wake()
	want := event{Op: "bury", ID: 1, Text: "gave up after 1h0m0s: upstream answered 503"}
	if diff := cmp.Diff(want, h.store.waitEvents(t, 3)[2]); diff != "" {
		t.Fatalf("a failure MaxAge after the requeue (-want +got):\n%s", diff)
	}
}

func TestUndecodablePayload(t *testing.T) {
	pager := &fakeNotifier{}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, nil)
	in := newIngest(t, t0, "inc1", "a", notify.KindTrigger, "pager")
	in.Payload = []byte(`{"version":"3"}`)
	if _, err := h.store.Ingest(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	h.d.Wake()
	want := []event{{Op: "bury", ID: 1, Text: `payload does not decode: version: must be "4" (Alertmanager's webhook version), not "3"`}}
	if diff := cmp.Diff(want, h.store.waitEvents(t, 1)); diff != "" {
		t.Fatalf("store calls (-want +got):\n%s", diff)
	}
	if n := len(pager.Calls()); n != 0 {
		t.Fatalf("notifier called %d times with an undecodable payload", n)
	}
}

func TestUnknownChannel(t *testing.T) {
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: &fakeNotifier{}}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "gone")
	want := []event{{Op: "bury", ID: 1, Text: `channel "gone" is not configured`}}
	if diff := cmp.Diff(want, h.store.waitEvents(t, 1)); diff != "" {
		t.Fatalf("store calls (-want +got):\n%s", diff)
	}
}

// TestOrderPerIncident: while an incident's delivery is under way, its
// next one waits, and other incidents' deliveries go on.
func TestOrderPerIncident(t *testing.T) {
	release := make(chan struct{})
	pager := &fakeNotifier{answer: func(_ context.Context, call int, n *notify.Notification) error {
		if n.IncidentKey == "inc1" && call == 0 {
			<-release
		}
		return nil
	}}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, func(o *deliver.Options) { o.Workers = 4 })
	states := []string{"a", "b", "c", "d", "e"}
	for _, s := range states {
		h.ingest(t, "inc1", s, notify.KindTrigger, "pager")
	}
	h.ingest(t, "inc2", "a", notify.KindTrigger, "pager")
	testenv.Eventually(t, wait, func() error {
		for _, e := range h.store.Events() {
			if e.ID == 6 && e.Op == "complete" {
				return nil
			}
		}
		return fmt.Errorf("inc2 not delivered while inc1's first delivery is under way: %+v", h.store.Events())
	})
	if calls := pager.Calls(); len(calls) != 2 {
		t.Fatalf("%d calls while inc1's first delivery is under way, want 2 (inc1's first, inc2's)", len(calls))
	}
	close(release)
	h.store.waitEvents(t, 6)
	var got []string
	for _, n := range pager.Calls() {
		if n.IncidentKey == "inc1" {
			got = append(got, n.Message.Alerts[0].Fingerprint)
		}
	}
	if diff := cmp.Diff(states, got); diff != "" {
		t.Fatalf("inc1's deliveries out of order (-want +got):\n%s", diff)
	}
}

// TestWake: with a poll interval longer than the test, a delivery is made
// only because Wake is called.
func TestWake(t *testing.T) {
	pager := &fakeNotifier{}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, nil)
	testenv.Eventually(t, wait, func() error {
		if h.store.emptyClaims.Load() == 0 {
			return fmt.Errorf("the workers have not looked at the empty outbox yet")
		}
		return nil
	})
	if _, err := h.store.Ingest(context.Background(), newIngest(t, t0, "inc1", "a", notify.KindTrigger, "pager")); err != nil {
		t.Fatal(err)
	}
	h.d.Wake()
	if e := h.store.waitEvents(t, 1)[0]; e.Op != "complete" {
		t.Fatalf("store call %+v, want complete", e)
	}
}

// TestRestart: deliveries pending when the store was closed are made by a
// new Deliverer over the reopened file.
func TestRestart(t *testing.T) {
	path := t.TempDir() + "/klaxon.db"
	st := openStore(t, path)
	for _, key := range []string{"inc1", "inc2"} {
		if _, err := st.Ingest(context.Background(), newIngest(t, t0, key, "a", notify.KindTrigger, "pager")); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	pager := &fakeNotifier{}
	h := startOn(t, path, testkit.NewClock(t0), map[string]deliver.Channel{"pager": {Notifier: pager}}, nil)
	h.store.waitEvents(t, 2)
	var got []string
	for _, n := range pager.Calls() {
		got = append(got, n.IncidentKey)
	}
	if diff := cmp.Diff([]string{"inc1", "inc2"}, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Fatalf("delivered after the restart (-want +got):\n%s", diff)
	}
}

// TestShutdownFinishesAttempts: an attempt under way when Run's context
// ends is let finish, and its outcome recorded.
func TestShutdownFinishesAttempts(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	pager := &fakeNotifier{answer: func(ctx context.Context, _ int, _ *notify.Notification) error {
		close(started)
		<-release
		return ctx.Err()
	}}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	<-started
	stopped := make(chan struct{})
	go func() { h.stop(); close(stopped) }()
	close(release)
	<-stopped
	if diff := cmp.Diff([]event{{Op: "complete", ID: 1, At: t0}}, h.store.Events()); diff != "" {
		t.Fatalf("store calls (-want +got):\n%s", diff)
	}
}

func TestBackoffDelay(t *testing.T) {
	b := deliver.Backoff{Initial: time.Second, Max: 5 * time.Minute, Factor: 2}
	for attempts, ceiling := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 1000: 5 * time.Minute} {
		var largest time.Duration
		for range 200 {
			d := b.Delay(attempts)
			if d < 0 || d > ceiling {
				t.Fatalf("Delay(%d) = %s, want within [0, %s]", attempts, d, ceiling)
			}
			largest = max(largest, d)
		}
		// Full jitter spreads over the whole range: 200 draws all in the
		// lower half would happen once in 2^200.
		if largest < ceiling/2 {
			t.Fatalf("Delay(%d): largest of 200 draws %s, want some above %s", attempts, largest, ceiling/2)
		}
	}
}

func TestSetChannelsAfterReload(t *testing.T) {
	before, after := &fakeNotifier{}, &fakeNotifier{}
	h := start(t, map[string]deliver.Channel{"chat": {Notifier: before}, "gone": {Notifier: &fakeNotifier{}}}, nil)

	h.d.SetChannels(map[string]deliver.Channel{"chat": {Notifier: after}, "new": {Notifier: &fakeNotifier{}}})
	h.ingest(t, "inc1", "a", notify.KindTrigger, "chat", "gone")
	h.store.waitEvents(t, 2)
	h.d.Wake()
	h.store.waitIdle(t)

	if n := len(before.Calls()); n != 0 {
		t.Errorf("the replaced notifier was called %d times", n)
	}
	if n := len(after.Calls()); n != 1 {
		t.Errorf("the reloaded notifier was called %d times, want once", n)
	}
	var ops []string
	for _, e := range h.store.Events() {
		ops = append(ops, e.Op)
	}
	slices.Sort(ops)
	if diff := cmp.Diff([]string{"bury", "complete"}, ops); diff != "" {
		t.Errorf("store calls (-want +got):\n%s (a channel removed by the reload makes a dead letter)", diff)
	}
}

func TestRetryAfterIsCapped(t *testing.T) {
	pager := &fakeNotifier{answer: answers(retryable("upstream answered 503 Service Unavailable", 48*time.Hour))}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	want := event{Op: "reschedule", ID: 1, At: t0.Add(deliver.MaxRetryAfter), Text: "upstream answered 503 Service Unavailable"}
	if diff := cmp.Diff(want, h.store.waitEvents(t, 1)[0]); diff != "" {
		t.Fatalf("a Retry-After of two days (-want +got):\n%s", diff)
	}
}

func TestCompleteIsRetried(t *testing.T) {
	chat := &fakeNotifier{}
	h := start(t, map[string]deliver.Channel{"chat": {Notifier: chat}}, nil)
	h.store.failCompletes.Store(1)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "chat")
	events := h.store.waitEvents(t, 2)
	if events[0].Op != "complete-failed" || events[1].Op != "complete" {
		t.Fatalf("store calls %+v, want a failed complete, then a complete", events)
	}
	h.clock.Advance(time.Hour) // past any lease
	h.d.Wake()
	h.store.waitIdle(t)
	if n := len(chat.Calls()); n != 1 {
		t.Errorf("sent %d times, want once: a complete that failed once must not make a resend", n)
	}
}

// TestHoldSurvivesReload: a 429 that comes back to an attempt begun before
// a reload still holds the channel after it.
func TestHoldSurvivesReload(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	pager := &fakeNotifier{answer: func(_ context.Context, call int, _ *notify.Notification) error {
		if call > 0 {
			return nil
		}
		close(started)
		<-release
		return retryable("upstream answered 429 Too Many Requests", time.Hour)
	}}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	<-started
	h.d.SetChannels(map[string]deliver.Channel{"pager": {Notifier: pager}})
	close(release)
	if e := h.store.waitEvents(t, 1)[0]; e.Op != "reschedule" {
		t.Fatalf("after the 429: %+v, want reschedule", e)
	}

	h.ingest(t, "inc2", "b", notify.KindTrigger, "pager")
	h.d.Wake()
	e := h.store.waitEvents(t, 2)[1]
	if e.Op != "postpone" || !e.At.Equal(t0.Add(time.Hour)) {
		t.Errorf("another incident on the reloaded channel: %+v, want postponed until the hold ends", e)
	}
}

// TestRateLimitHoldsOneWorker: while one worker waits for a rate-limited
// channel's turn, the others do not queue behind it but take other work,
// so that a page to another channel goes out before the waiting channel's
// next message.
func TestRateLimitHoldsOneWorker(t *testing.T) {
	var mu sync.Mutex
	var order []string
	record := func(name string) func(context.Context, int, *notify.Notification) error {
		return func(context.Context, int, *notify.Notification) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			return nil
		}
	}
	chat := &fakeNotifier{answer: record("chat")}
	pager := &fakeNotifier{answer: record("pager")}
	h := start(t, map[string]deliver.Channel{
		// A turn every 2s: the second and third chat deliveries would
		// both be within maxWait (5s) of theirs.
		"chat":  {Notifier: chat, Limit: notify.Limit{Every: 2 * time.Second, Burst: 1}},
		"pager": {Notifier: pager},
	}, nil)
	for _, key := range []string{"inc1", "inc2", "inc3"} {
		h.ingest(t, key, "a", notify.KindTrigger, "chat")
	}
	h.ingest(t, "inc4", "a", notify.KindTrigger, "pager")
	testenv.Eventually(t, wait, func() error {
		if len(chat.Calls()) < 2 || len(pager.Calls()) < 1 {
			return fmt.Errorf("chat called %d times, pager %d", len(chat.Calls()), len(pager.Calls()))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"chat", "pager", "chat"}; !slices.Equal(order[:3], want) {
		t.Fatalf("calls in order %v, want %v: the page waited behind the chat channel's rate limit", order, want)
	}
}

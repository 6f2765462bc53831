package deliver_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// wait is how long a test waits for a condition; a failure, never a pause.
const wait = 10 * time.Second

// fakeNotifier records its calls and answers as the test scripts: answer
// gets the call's number (0 for the first).
type fakeNotifier struct {
	mu     sync.Mutex
	calls  []notify.Notification
	answer func(ctx context.Context, call int, n *notify.Notification) error
}

func (f *fakeNotifier) Notify(ctx context.Context, n *notify.Notification) error {
	f.mu.Lock()
	call := len(f.calls)
	f.calls = append(f.calls, *n)
	f.mu.Unlock()
	if f.answer == nil {
		return nil
	}
	return f.answer(ctx, call, n)
}

func (f *fakeNotifier) Calls() []notify.Notification {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]notify.Notification(nil), f.calls...)
}

// answers scripts a notifier's first answers; later calls succeed.
func answers(errs ...error) func(context.Context, int, *notify.Notification) error {
	return func(_ context.Context, call int, _ *notify.Notification) error {
		if call < len(errs) {
			return errs[call]
		}
		return nil
	}
}

// event is a store call the Deliverer made.
type event struct {
	Op   string // complete, reschedule, postpone, bury; settle-done, -retry, -postponed, -dead
	ID   int64
	At   time.Time
	Text string
	// IDs are the deliveries of a settle.
	IDs []int64
}

// spyStore records the Deliverer's store calls, once they return.
type spyStore struct {
	store.Store
	mu          sync.Mutex
	events      []event
	emptyClaims atomic.Int64
	// failCompletes makes that many Complete calls fail before they reach
	// the store; failSettles the same for Settle.
	failCompletes atomic.Int64
	failSettles   atomic.Int64
	// failRenews makes every Renew fail, as for a replica cut off from
	// the store.
	failRenews atomic.Bool
	// failClaims makes every Claim fail, as for a read-only disk.
	failClaims atomic.Bool
}

func (s *spyStore) Renew(ctx context.Context, ls []store.Lease, until time.Time) (int, error) {
	if s.failRenews.Load() {
		return 0, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
	}
	n, err := s.Store.Renew(ctx, ls, until)
	s.record(event{Op: "renew", At: until})
	return n, err
}

var settleOps = map[store.Outcome]string{
	store.Done: "settle-done", store.Retry: "settle-retry", store.Postponed: "settle-postponed", store.Dead: "settle-dead",
	store.Superseded: "settle-superseded",
}

func (s *spyStore) Settle(ctx context.Context, ls []store.Lease, st store.Settlement) error {
	ids := leaseIDs(ls)
	if s.failSettles.Add(-1) >= 0 {
		s.record(event{Op: settleOps[st.Outcome] + "-failed", IDs: ids, At: st.At})
		return fmt.Errorf("%w: database is locked", store.ErrUnavailable)
	}
	err := s.Store.Settle(ctx, ls, st)
	s.record(event{Op: settleOps[st.Outcome], IDs: ids, At: st.At, Text: st.Error})
	return err
}

func (s *spyStore) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	if s.failClaims.Load() {
		return nil, fmt.Errorf("claiming deliveries: %w: attempt to write a readonly database", store.ErrUnavailable)
	}
	ds, err := s.Store.Claim(ctx, now, lease, limit)
	if err == nil && len(ds) == 0 {
		s.emptyClaims.Add(1)
	}
	return ds, err
}

func (s *spyStore) Complete(ctx context.Context, l store.Lease, at time.Time) error {
	id := l.ID
	if s.failCompletes.Add(-1) >= 0 {
		s.record(event{Op: "complete-failed", ID: id, At: at})
		return fmt.Errorf("%w: database is locked", store.ErrUnavailable)
	}
	err := s.Store.Complete(ctx, l, at)
	s.record(event{Op: "complete", ID: id, At: at})
	return err
}

func (s *spyStore) Reschedule(ctx context.Context, l store.Lease, next time.Time, lastErr string) error {
	err := s.Store.Reschedule(ctx, l, next, lastErr)
	s.record(event{Op: "reschedule", ID: l.ID, At: next, Text: lastErr})
	return err
}

func (s *spyStore) Postpone(ctx context.Context, l store.Lease, next time.Time) error {
	err := s.Store.Postpone(ctx, l, next)
	s.record(event{Op: "postpone", ID: l.ID, At: next})
	return err
}

func (s *spyStore) Bury(ctx context.Context, l store.Lease, reason string) error {
	err := s.Store.Bury(ctx, l, reason)
	s.record(event{Op: "bury", ID: l.ID, Text: reason})
	return err
}

func leaseIDs(ls []store.Lease) []int64 {
	out := make([]int64, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}

func (s *spyStore) record(e event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *spyStore) Events() []event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event(nil), s.events...)
}

// waitEvents waits until the Deliverer has made n store calls and returns
// them.
func (s *spyStore) waitEvents(t *testing.T, n int) []event {
	t.Helper()
	testenv.Eventually(t, wait, func() error {
		if got := len(s.Events()); got < n {
			return fmt.Errorf("%d store calls, want %d: %+v", got, n, s.Events())
		}
		return nil
	})
	return s.Events()
}

// waitIdle waits until the Deliverer found nothing more to claim after
// the calls so far.
func (s *spyStore) waitIdle(t *testing.T) {
	t.Helper()
	from := s.emptyClaims.Load()
	testenv.Eventually(t, wait, func() error {
		if s.emptyClaims.Load() <= from {
			return errors.New("the workers have not looked at the outbox again")
		}
		return nil
	})
}

type harness struct {
	store *spyStore
	clock *testkit.Clock
	reg   *prometheus.Registry
	d     *deliver.Deliverer
	path  string
	stop  func()
}

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testOptions drive everything through Wake and the fake clock: the poll
// interval is longer than any test.
func testOptions(clock *testkit.Clock) deliver.Options {
	return deliver.Options{
		Workers:      2,
		PollInterval: time.Hour,
		Backoff:      deliver.Backoff{Initial: time.Second, Max: time.Minute, Factor: 2},
		Now:          clock.Now,
	}
}

// start runs a Deliverer over a fresh store until the test ends.
func start(t *testing.T, channels map[string]deliver.Channel, modify func(*deliver.Options)) *harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "klaxon.db")
	return startOn(t, path, testkit.NewClock(t0), channels, modify)
}

func startOn(t *testing.T, path string, clock *testkit.Clock, channels map[string]deliver.Channel, modify func(*deliver.Options)) *harness {
	t.Helper()
	return run(t, &harness{store: &spyStore{Store: openStore(t, path)}, clock: clock, reg: prometheus.NewRegistry(), path: path}, channels, modify)
}

// replica runs another Deliverer on h's store and clock, as a second
// receiver on a shared store does, with a spy of its own.
func (h *harness) replica(t *testing.T, channels map[string]deliver.Channel, modify func(*deliver.Options)) *harness {
	t.Helper()
	return run(t, &harness{store: &spyStore{Store: h.store.Store}, clock: h.clock, reg: prometheus.NewRegistry(), path: h.path}, channels, modify)
}

// run starts h's Deliverer until the test ends.
func run(t *testing.T, h *harness, channels map[string]deliver.Channel, modify func(*deliver.Options)) *harness {
	t.Helper()
	opts := testOptions(h.clock)
	if modify != nil {
		modify(&opts)
	}
	h.d = deliver.New(h.store, channels, opts, h.reg, promslog.NewNopLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	h.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(h.stop)
	return h
}

// ingest records a webhook as the receiver does, and wakes the workers.
func (h *harness) ingest(t *testing.T, key, state string, kind notify.Kind, channels ...string) int {
	t.Helper()
	return h.ingestAt(t, h.clock.Now(), key, state, kind, channels...)
}

func (h *harness) ingestAt(t *testing.T, at time.Time, key, state string, kind notify.Kind, channels ...string) int {
	t.Helper()
	in := newIngest(t, at, key, state, kind, channels...)
	res, err := h.store.Ingest(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	h.d.Wake()
	return res.Deliveries
}

func newIngest(t *testing.T, at time.Time, key, state string, kind notify.Kind, channels ...string) *store.Ingest {
	t.Helper()
	status := alert.StatusFiring
	if kind == notify.KindResolve {
		status = alert.StatusResolved
	}
	m := &alert.Message{
		Version: "4", GroupKey: "{}:{incident=\"" + key + "\"}", Status: status, Receiver: "ops",
		Alerts: []alert.Alert{{
			Status: status, Labels: map[string]string{"alertname": "Test", "incident": key},
			StartsAt: t0, Fingerprint: state,
		}},
	}
	payload, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &store.Ingest{
		Route: "ops", IncidentKey: key, GroupKey: m.GroupKey, StateHash: m.StateHash(), Status: status,
		Kind: string(kind), Payload: payload, Channels: channels, ReceivedAt: at,
	}
}

func retryable(text string, after time.Duration) error {
	reason := notify.ReasonServerError
	if after > 0 {
		reason = notify.ReasonRateLimited
	}
	return &notify.Error{Retry: true, RetryAfter: after, Reason: reason, Err: errors.New(text)}
}

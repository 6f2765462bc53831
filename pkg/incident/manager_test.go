package incident_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/receivertest"
	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// start is when the tests' incidents open.
var start = time.Date(2026, 3, 10, 8, 50, 0, 0, time.UTC)

// policyConfig pages alice at once and bob after 30 minutes on route
// critical, through one Slack channel and one PagerDuty channel.
const policyConfig = `channels:
  - name: chat
    slack: {webhook_url: "https://hooks.slack.example.com/services/T0/B0/x"}
  - name: pager
    pagerduty: {routing_key: 0123456789abcdef0123456789abcdef}
routes:
  - name: critical
    channels: [chat, pager]
    escalation_policy: default
  - name: warning
    channels: [chat]
users:
  - name: alice
    slack_id: U01ALICE0
  - name: bob
    slack_id: U02BOB000
escalation_policies:
  - name: default
    levels:
      - targets: [{user: alice}]
      - delay: 30m
        targets: [{user: bob}]
`

// fixed is a config in force that no reload replaces.
type fixed struct{ rt *receiverconfig.Runtime }

func (f fixed) Get() *receiverconfig.Runtime { return f.rt }

// wakes counts the manager's wakes of the deliverer.
type wakes struct{ n atomic.Int32 }

func (w *wakes) Wake() { w.n.Add(1) }

type rig struct {
	m     *incident.Manager
	st    *sqlite.Store
	rt    *receiverconfig.Runtime
	clock *testkit.Clock
	wakes *wakes
	reg   *prometheus.Registry
}

func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigWith(t, policyConfig)
}

// newRigWith is newRig on another config.
func newRigWith(t *testing.T, config string) *rig {
	t.Helper()
	cfg, err := receiverconfig.Parse("test.yml", []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := receiverconfig.Build(cfg, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{rt: rt, clock: testkit.NewClock(start), wakes: &wakes{}, reg: prometheus.NewRegistry()}
	rt.Now = r.clock.Now
	r.st, err = sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "klaxon.db"), sqlite.Options{Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.st.Close() })
	if r.m, err = incident.New(r.st, fixed{rt}, r.wakes, r.reg, promslog.NewNopLogger()); err != nil {
		t.Fatal(err)
	}
	return r
}

// fire ingests a firing notification of one alert on route and returns
// the incident's key.
func (r *rig) fire(t *testing.T, route string) string {
	t.Helper()
	msg := receivertest.Message(`{}:{alertname="HighErrorRate"}`, alert.StatusFiring, "a1=firing")
	res, err := r.m.Ingest(t.Context(), r.rt.Config.Route(route), msg, receivertest.Encode(t, msg), start)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deliveries != 2 && route == "critical" {
		t.Fatalf("ingest on critical added %d deliveries, want one per channel", res.Deliveries)
	}
	return alert.IncidentKey(route, msg.GroupKey)
}

// kinds are the kinds of the deliveries due now, per channel, in order.
func (r *rig) kinds(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		due, err := r.st.Claim(t.Context(), r.clock.Now(), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) == 0 {
			return out
		}
		for _, d := range due {
			out = append(out, d.Channel+":"+d.Kind)
			if err := r.st.Complete(t.Context(), d.Lease(), r.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestLifecycle: an incident opens with its escalation, pages level 2
// through the chat channel only when its timer is due, is acknowledged
// once, and is gone once resolved.
func TestLifecycle(t *testing.T) {
	r := newRig(t)
	key := r.fire(t, "critical")
	open, err := r.m.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].ID != key || open[0].Level != 1 || !open[0].NextEscalation.Equal(start.Add(30*time.Minute)) {
		t.Fatalf("open incidents %+v, want %s at level 1, next escalation at %s", open, key, start.Add(30*time.Minute))
	}
	if got := r.kinds(t); !slices.Equal(got, []string{"chat:trigger", "pager:trigger"}) {
		t.Errorf("deliveries after the trigger %q, want one trigger per channel", got)
	}

	r.clock.Set(start.Add(30*time.Minute - time.Second))
	if err := r.m.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := r.wakes.n.Load(); n != 0 {
		t.Errorf("a tick before level 2 was due woke the deliverer %d times", n)
	}
	r.clock.Set(start.Add(30 * time.Minute))
	if err := r.m.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := r.kinds(t); !slices.Equal(got, []string{"chat:escalate"}) || r.wakes.n.Load() != 1 {
		t.Errorf("deliveries after level 2 fell due %q (%d wakes), want one escalate to the chat channel and one wake", got, r.wakes.n.Load())
	}

	a, err := r.m.Acknowledge(t.Context(), key[:8], "alice")
	if err != nil || a.Already || a.Incident != key {
		t.Fatalf("acknowledge by prefix: %+v, %v", a, err)
	}
	again, err := r.m.Acknowledge(t.Context(), key, "bob")
	if err != nil || !again.Already || again.By != "alice" {
		t.Errorf("second acknowledgement: %+v, %v; want alice's, unchanged", again, err)
	}
	if err := r.m.AcknowledgeOpen(t.Context(), key, "bob"); !errors.Is(err, incident.ErrAcknowledged) {
		t.Errorf("status page acknowledgement by someone else: %v, want ErrAcknowledged", err)
	}
	if got := r.kinds(t); !slices.Equal(got, []string{"chat:acknowledged"}) {
		t.Errorf("deliveries after the acknowledgement %q, want one to the chat channel", got)
	}

	if _, err := r.m.Resolve(t.Context(), key, "alice"); err != nil {
		t.Fatal(err)
	}
	if open, err := r.m.Open(t.Context()); err != nil || len(open) != 0 {
		t.Errorf("open incidents after resolving: %+v, %v", open, err)
	}
	if _, err := r.m.Acknowledge(t.Context(), key, "alice"); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("acknowledging a resolved incident: %v, want ErrNotFound", err)
	}
}

// TestNoPolicyNoIncident: a route without an escalation policy delivers
// but opens no incident.
func TestNoPolicyNoIncident(t *testing.T) {
	r := newRig(t)
	key := r.fire(t, "warning")
	if got := r.kinds(t); !slices.Equal(got, []string{"chat:trigger"}) {
		t.Errorf("deliveries %q, want the trigger to the chat channel", got)
	}
	if list, err := r.m.Incidents(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("incidents %+v, %v; want none", list, err)
	}
	if _, err := r.m.Acknowledge(t.Context(), key, "alice"); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("acknowledging it: %v, want ErrNotFound", err)
	}
}

// TestBadID: IDs that name no single incident are told apart.
func TestBadID(t *testing.T) {
	r := newRig(t)
	for id, want := range map[string]error{"abc": incident.ErrBadID, "not-hex-at-all": incident.ErrBadID, "0123456789abcdef": incident.ErrNotFound} {
		if _, err := r.m.Acknowledge(t.Context(), id, "alice"); !errors.Is(err, want) {
			t.Errorf("Acknowledge(%q): %v, want %v", id, err, want)
		}
	}
}

// failingClaims is a store whose ClaimDueEscalations fails while fail is
// set, as on a read-only disk, and counts its calls.
type failingClaims struct {
	incident.Store
	fail  atomic.Bool
	calls atomic.Int32
}

func (f *failingClaims) ClaimDueEscalations(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Escalation, error) {
	f.calls.Add(1)
	if f.fail.Load() {
		return nil, fmt.Errorf("claiming: %w: attempt to write a readonly database", store.ErrUnavailable)
	}
	return f.Store.ClaimDueEscalations(ctx, now, lease, limit)
}

// TestRunLogsRepeatedErrorOnce has Run tick on a store that fails every
// claim, then works again: the error is logged once, not at every tick,
// and so is the recovery.
func TestRunLogsRepeatedErrorOnce(t *testing.T) {
	r := newRig(t)
	st := &failingClaims{Store: r.st}
	st.fail.Store(true)
	logs := &testenv.Buffer{}
	m, err := incident.New(st, fixed{r.rt}, r.wakes, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- m.Run(ctx) }()
	ticks := func(n int32) {
		t.Helper()
		from := st.calls.Load()
		testenv.Eventually(t, 10*time.Second, func() error {
			m.Wake()
			if got := st.calls.Load() - from; got < n {
				return fmt.Errorf("%d ticks, want %d", got, n)
			}
			return nil
		})
	}
	ticks(5)
	st.fail.Store(false)
	ticks(3)
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	for msg, want := range map[string]int{"escalation tick failed": 1, "escalation ticks work again": 1} {
		if n := strings.Count(logs.String(), msg); n != want {
			t.Errorf("%q logged %d times, want %d:\n%s", msg, n, want, logs)
		}
	}
}

package deliver_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// TestMetrics drives one success, one retry and one dead letter and
// compares every metric with testdata/metrics.txt.
func TestMetrics(t *testing.T) {
	pager := &fakeNotifier{answer: func(_ context.Context, _ int, n *notify.Notification) error {
		if n.IncidentKey == "inc2" {
			return retryable("upstream answered 503", 0)
		}
		return nil
	}}
	chat := &fakeNotifier{answer: answers(notify.Errorf(notify.ReasonClientError, "upstream answered 404 Not Found: channel_not_found"))}
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: pager}, "chat": {Notifier: chat}, "idle": {Notifier: &fakeNotifier{}}}, nil)
	h.ingestAt(t, t0.Add(-1500*time.Millisecond), "inc1", "a", notify.KindTrigger, "pager", "chat")
	h.ingestAt(t, t0.Add(-90*time.Second), "inc2", "a", notify.KindResolve, "pager")
	h.store.waitEvents(t, 3)

	// The claims' latency is the machine's: the golden file leaves it out,
	// and it is enough that claims were timed.
	const timed = "klaxon_receiver_store_claim_duration_seconds"
	untimed := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := h.reg.Gather()
		return slices.DeleteFunc(mfs, func(mf *dto.MetricFamily) bool { return mf.GetName() == timed }), err
	})
	testkit.GoldenMetrics(t, filepath.Join("testdata", "metrics.txt"), untimed)
	if n, err := testutil.GatherAndCount(h.reg, timed); err != nil || n != 1 {
		t.Errorf("%s: %d series, %v", timed, n, err)
	}
}

// TestMetricsAcrossReload: a second Deliverer on the same registry, as
// after a configuration reload, carries the counters on and reports the
// new channel set.
func TestMetricsAcrossReload(t *testing.T) {
	h := start(t, map[string]deliver.Channel{"pager": {Notifier: &fakeNotifier{}}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "pager")
	h.store.waitEvents(t, 1)
	deliver.New(h.store, map[string]deliver.Channel{"pager": {Notifier: &fakeNotifier{}}, "chat": {Notifier: &fakeNotifier{}}}, testOptions(h.clock), h.reg, nil)
	const want = `
# HELP klaxon_receiver_dead_letters Deliveries given up on, kept until requeued.
# TYPE klaxon_receiver_dead_letters gauge
klaxon_receiver_dead_letters{channel="chat"} 0
klaxon_receiver_dead_letters{channel="pager"} 0
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), "klaxon_receiver_dead_letters"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(counter(t, h.reg, "pager")); got != 1 {
		t.Fatalf("pager successes after the reload: %v, want 1", got)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, channel string) prometheus.Collector {
	t.Helper()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "klaxon_receiver_notifications_total",
		Help: "Delivery attempts by channel, kind and outcome (success, retry, failed: a dead letter).",
	}, []string{"channel", "kind", "outcome"})
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("notifications_total not registered: %v", err)
	}
	return are.ExistingCollector.(*prometheus.CounterVec).WithLabelValues(channel, "trigger", "success")
}

// TestSecretsStayOut: an error carrying a webhook URL with its token (as
// a careless integration might return) reaches neither the logs, nor the
// outbox, nor the metrics.
func TestSecretsStayOut(t *testing.T) {
	const token = "T000/B000/s3cr3tT0ken"
	leak := &url.Error{Op: "Post", URL: "https://hooks.slack.com/services/" + token, Err: errors.New("connection refused")}
	chat := &fakeNotifier{answer: answers(
		&notify.Error{Retry: true, Reason: notify.ReasonNetwork, Err: leak},
		&notify.Error{Reason: notify.ReasonClientError, Err: leak},
	)}
	var logs bytes.Buffer
	clock := testkit.NewClock(t0)
	st := &spyStore{Store: openStore(t, filepath.Join(t.TempDir(), "klaxon.db"))}
	reg := prometheus.NewRegistry()
	d := deliver.New(st, map[string]deliver.Channel{"chat": {Notifier: chat}}, testOptions(clock), reg,
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	if _, err := st.Ingest(context.Background(), newIngest(t, t0, "inc1", "a", notify.KindTrigger, "chat")); err != nil {
		t.Fatal(err)
	}
	d.Wake()
	st.waitEvents(t, 1)
	clock.Advance(time.Hour)
	d.Wake()
	events := st.waitEvents(t, 2)

	dead, err := st.DeadLetters(context.Background())
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters: %v, %v", dead, err)
	}
	var metrics bytes.Buffer
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		metrics.WriteString(mf.String())
	}
	for what, text := range map[string]string{
		"logs": logs.String(), "last error": dead[0].LastError, "rescheduled error": events[0].Text, "metrics": metrics.String(),
	} {
		if strings.Contains(text, "s3cr3t") {
			t.Errorf("the webhook token is in the %s: %s", what, text)
		}
	}
	if want := `Post "https://hooks.slack.com/<redacted>": connection refused`; dead[0].LastError != want {
		t.Errorf("last error %q, want %q", dead[0].LastError, want)
	}
	if !strings.Contains(logs.String(), "hooks.slack.com/<redacted>") {
		t.Errorf("logs do not name the failing host:\n%s", logs.String())
	}
}

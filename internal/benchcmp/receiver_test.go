package benchcmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

func TestPayloads(t *testing.T) {
	payloads, err := Payloads("t", 3)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Payloads("t", 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(payloads, again); diff != "" {
		t.Errorf("payloads differ from one call to the next (-first +second):\n%s", diff)
	}
	var keys []string
	for _, p := range payloads {
		m, err := alert.Decode(bytes.NewReader(p.Body))
		if err != nil {
			t.Fatalf("payload does not pass the receiver's validation: %v", err)
		}
		if len(m.Alerts) != AlertsPerPayload {
			t.Errorf("%d alerts, want %d", len(m.Alerts), AlertsPerPayload)
		}
		if m.GroupKey != p.GroupKey {
			t.Errorf("group key %q in the body, %q beside it", m.GroupKey, p.GroupKey)
		}
		keys = append(keys, m.GroupKey)
	}
	want := []string{
		`{}/{severity="critical"}:{alertname="HighErrorRate", job="t-0"}`,
		`{}/{severity="critical"}:{alertname="HighErrorRate", job="t-1"}`,
		`{}/{severity="critical"}:{alertname="HighErrorRate", job="t-2"}`,
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("group keys (-want +got):\n%s", diff)
	}
}

func TestDecodeOnly(t *testing.T) {
	srv := httptest.NewServer(DecodeOnly())
	defer srv.Close()
	payloads, err := Payloads("t", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := Post(t.Context(), srv.Client(), srv.URL, payloads[0].Body); err != nil {
		t.Errorf("posting a payload: %v", err)
	}
	err = Post(t.Context(), srv.Client(), srv.URL, []byte("{"))
	if want := "400 Bad Request: unexpected EOF"; err == nil || err.Error() != want {
		t.Errorf("posting a broken payload: %v, want %q", err, want)
	}
}

func TestReceiverExcerpt(t *testing.T) {
	long := strings.Repeat("x", 250)
	for _, tc := range []struct{ in, want string }{
		{" short \n", "short"},
		{long, strings.Repeat("x", 200) + "…"},
	} {
		if got := excerpt([]byte(tc.in)); got != tc.want {
			t.Errorf("excerpt(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// recorder is a handler that records the bodies it was sent and answers
// 200, or status when set, or 400 to bodies that hold reject when set.
type recorder struct {
	mu     sync.Mutex
	bodies []string
	status int
	reject string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.bodies = append(rec.bodies, string(b))
	status := rec.status
	rec.mu.Unlock()
	if rec.reject != "" && strings.Contains(string(b), rec.reject) {
		status = http.StatusBadRequest
	}
	if status != 0 {
		http.Error(w, "try later", status)
	}
}

func (rec *recorder) sorted() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Sorted(slices.Values(rec.bodies))
}

func numbered(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%03d", i)
	}
	return out
}

func wantNumbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%03d", i)
	}
	return out
}

func TestMaxThroughputPostsEachBodyOnce(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	got, err := MaxThroughput(t.Context(), NewClient(4), []string{srv.URL}, numbered(50), 4)
	if err != nil {
		t.Fatal(err)
	}
	if got.Payloads != 50 || got.Elapsed <= 0 {
		t.Errorf("throughput %+v, want 50 payloads in a positive time", got)
	}
	if diff := cmp.Diff(wantNumbered(50), rec.sorted()); diff != "" {
		t.Errorf("bodies received (-want +got):\n%s", diff)
	}
}

func TestMaxThroughputCountsFailures(t *testing.T) {
	srv := httptest.NewServer(&recorder{status: http.StatusServiceUnavailable})
	defer srv.Close()
	_, err := MaxThroughput(t.Context(), NewClient(2), []string{srv.URL}, numbered(5), 2)
	want := "5 of 5 posts failed, the first with: 503 Service Unavailable: try later"
	if err == nil || err.Error() != want {
		t.Errorf("MaxThroughput: %v, want %q", err, want)
	}
}

// TestOpenLoopDoesNotWait holds every answer back until all posts have
// arrived: a sender that waited for answers would never send the second.
func TestOpenLoopDoesNotWait(t *testing.T) {
	const n = 20
	arrived := make(chan struct{}, n)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer srv.Close()
	done := make(chan error, 1)
	var latencies []time.Duration
	go func() {
		var err error
		latencies, err = OpenLoop(t.Context(), NewClient(n), []string{srv.URL}, numbered(n), 1000)
		done <- err
	}()
	for range n {
		<-arrived
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(latencies) != n {
		t.Fatalf("%d latencies, want %d", len(latencies), n)
	}
	for i, l := range latencies {
		if l <= 0 {
			t.Errorf("latency %d is %v, want > 0", i, l)
		}
	}
}

func TestScheduleErrors(t *testing.T) {
	if err := schedule(t.Context(), 1, 0, func(int, time.Time) {}); err == nil || err.Error() != "rate 0: must be positive" {
		t.Errorf("schedule at rate 0: %v", err)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("stopped by the test")
	calls := 0
	err := schedule(ctx, 3, 0.001, func(int, time.Time) {
		calls++
		cancel(cause)
	})
	if !errors.Is(err, cause) || calls != 1 {
		t.Errorf("schedule cancelled after the first call: %v after %d calls, want %v after 1", err, calls, cause)
	}
}

func TestReceipts(t *testing.T) {
	rec := &recorder{reject: "refused"}
	rc := NewReceipts(rec)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	post := func(body string) {
		t.Helper()
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post(`{"dedup_key": "a"}`)
	first, err := rc.Await(t.Context(), []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	post(`{"dedup_key": "a"}`)
	post(`not json`)
	post(`{"dedup_key": "b"}`)
	post(`{"dedup_key": "c", "refused": true}`)
	got, err := rc.Await(t.Context(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !got["a"].Equal(first["a"]) {
		t.Errorf("a arrived at %v, then at %v: want the first arrival kept", first["a"], got["a"])
	}
	want := []string{`not json`, `{"dedup_key": "a"}`, `{"dedup_key": "a"}`, `{"dedup_key": "b"}`, `{"dedup_key": "c", "refused": true}`}
	if diff := cmp.Diff(want, rec.sorted()); diff != "" {
		t.Errorf("bodies passed on (-want +got):\n%s", diff)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = rc.Await(ctx, []string{"a", "c", "d"})
	if want := "2 of 3 events never reached the upstream: context canceled"; err == nil || err.Error() != want {
		t.Errorf("Await for a refused and a missing key: %v, want %q", err, want)
	}
}

// exampleResult is two rounds' worth of made-up figures.
func exampleResult() ReceiverResult {
	round := ReceiverResult{
		Loads: []Load{
			{Clients: 16, Receiver: Throughput{Payloads: 3000, Elapsed: time.Second}, Reference: Throughput{Payloads: 3000, Elapsed: 500 * time.Millisecond},
				Batched: 3000, Commits: 250},
			{Clients: 64, Receiver: Throughput{Payloads: 3000, Elapsed: 2 * time.Second}, Reference: Throughput{Payloads: 3000, Elapsed: 600 * time.Millisecond},
				Batched: 3000, Commits: 100},
		},
		AckRate: 500, ReceiverAck: ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 12), ReferenceAck: ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 2),
		EndToEnd: ms(4, 5, 6, 30), Teams: 20, Accepted: 5000, Fsync: ms(1, 1, 1, 1, 2, 2, 2, 3, 4, 6),
	}
	return ReceiverResult{}.Add(round).Add(round)
}

func TestReceiverMarkdown(t *testing.T) {
	testkit.Golden(t, filepath.Join("testdata", "receiver.md"), exampleResult().Markdown())
}

func TestReceiverResultAdd(t *testing.T) {
	r := exampleResult()
	if len(r.Loads) != 2 || r.Loads[1].Clients != 64 {
		t.Fatalf("two rounds merged: loads %+v, want one at 16 and one at 64 clients", r.Loads)
	}
	if r.Loads[0].Receiver.Payloads != 6000 || r.Loads[1].Commits != 200 || r.Accepted != 10000 || len(r.EndToEnd) != 8 || len(r.Fsync) != 20 {
		t.Errorf("two rounds merged: %d payloads, %d commits at 64 clients, %d accepted, %d end-to-end latencies; want 6000, 200, 10000, 8",
			r.Loads[0].Receiver.Payloads, r.Loads[1].Commits, r.Accepted, len(r.EndToEnd))
	}
	if got := r.Loads[0].Receiver.Rate(); got != 3000 {
		t.Errorf("merged rate %v, want 3000", got)
	}
}

func TestReceiverGoals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		change    func(*ReceiverResult)
		tput, ack bool
	}{
		{"throughput at the ratio, ack over 10 ms", func(*ReceiverResult) {}, true, false},
		{"throughput below the ratio", func(r *ReceiverResult) { r.Loads[0].Reference.Payloads = 6001 }, false, false},
		{"the reference's best at another number of clients", func(r *ReceiverResult) {
			r.Loads[0].Receiver.Payloads, r.Loads[1].Reference.Payloads = 5000, 16000
		}, false, false},
		{"the receiver's best at another number of clients", func(r *ReceiverResult) { r.Loads[1].Receiver.Elapsed = time.Second }, true, false},
		{"ack under 10 ms", func(r *ReceiverResult) { r.ReceiverAck = ms(9, 9) }, true, true},
		{"ack at 10 ms", func(r *ReceiverResult) { r.ReceiverAck = ms(10, 10) }, true, false},
		{"ack under 10 ms at another rate", func(r *ReceiverResult) { r.ReceiverAck, r.AckRate = ms(9, 9), 400 }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exampleResult()
			tc.change(&r)
			tput, ack := r.Goals()
			if tput != tc.tput || ack != tc.ack {
				t.Errorf("Goals() = %v, %v, want %v, %v", tput, ack, tc.tput, tc.ack)
			}
		})
	}
}

// TestReceiverRig runs two small rounds through the real receiver, one
// posting from a load generator process and one from this process, with
// one failure from the fake PagerDuty so that a retry is logged, and checks
// what was measured, what the store committed, what the fake received, and
// that no routing key shows in the logs or the report.
func TestReceiverRig(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rig, err := StartReceiverRig(t.Context(), t.TempDir(), 2, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer rig.Close()
	rig.PagerDuty.FailNext(1, fakeapi.Fault{Status: http.StatusInternalServerError})
	plan := Plan{Clients: []int{2, 4}, Payloads: 20, WarmUp: 5, AckRate: 200, AckPayloads: 20,
		EndToEndRate: 20, EndToEndPayloads: 6, EndToEndWait: time.Minute}
	client := NewClient(8)
	defer client.CloseIdleConnections()
	var res ReceiverResult
	for round, inProcess := range []bool{false, true} {
		plan.InProcess = inProcess
		got, err := rig.Measure(t.Context(), client, plan, round)
		if err != nil {
			t.Fatal(err)
		}
		checkFigures(t, got)
		res = res.Add(got)
	}
	if err := rig.Close(); err != nil {
		t.Fatal(err)
	}
	committed, commits, err := rig.Committed()
	if err != nil {
		t.Fatal(err)
	}
	if committed != res.Accepted || commits == 0 {
		t.Errorf("the store committed %d notifications in %d transactions; the receiver accepted %d", committed, commits, res.Accepted)
	}
	checkEvents(t, rig, 12)
	for _, key := range rig.routingKeys {
		for what, text := range map[string]string{"logs": logs.String(), "report": res.Markdown()} {
			if strings.Contains(text, key) {
				t.Errorf("a routing key shows in the %s:\n%s", what, text)
			}
		}
	}
	if !strings.Contains(logs.String(), "500") {
		t.Errorf("the injected failure was not logged, so the check for routing keys in the logs saw nothing:\n%s", logs.String())
	}
}

func checkFigures(t *testing.T, res ReceiverResult) {
	t.Helper()
	var got []int
	for _, l := range res.Loads {
		got = append(got, l.Clients, l.Receiver.Payloads, l.Reference.Payloads, l.Batched)
	}
	got = append(got, len(res.ReceiverAck), len(res.ReferenceAck), len(res.EndToEnd), res.Accepted)
	want := []int{2, 20, 20, 20, 4, 20, 20, 20, 20, 20, 6, 2*(5+20) + 20 + 6}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts: per load clients, receiver, reference, committed; then receiver acks, reference acks, end to end, accepted (-want +got):\n%s", diff)
	}
	for i, l := range res.EndToEnd {
		if l <= 0 {
			t.Errorf("end-to-end latency %d is %v, want > 0", i, l)
		}
	}
}

// checkEvents checks that the fake PagerDuty accepted n trigger events,
// each sent with one of the rig's routing keys.
func checkEvents(t *testing.T, rig *ReceiverRig, n int) {
	t.Helper()
	events := rig.PagerDuty.Received()
	if len(events) != n {
		t.Fatalf("the fake PagerDuty accepted %d events, want %d", len(events), n)
	}
	keys := map[string]bool{}
	for _, k := range rig.routingKeys {
		keys[k] = true
	}
	for _, ev := range events {
		if !keys[ev.RoutingKey] || ev.EventAction != "trigger" {
			t.Errorf("event %q with action %q and an unknown routing key", ev.DedupKey, ev.EventAction)
		}
	}
}

// syncBuffer is a bytes.Buffer for loggers used from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

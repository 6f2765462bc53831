package benchcmp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
)

// AlertsPerPayload is how many alerts each benchmark webhook carries.
const AlertsPerPayload = 10

// payloadTime is the start of every benchmark alert, fixed so that payloads
// are the same size from run to run.
var payloadTime = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

// Payload is one Alertmanager webhook body and the group it is about.
type Payload struct {
	GroupKey string
	Body     []byte
}

// Payloads returns n webhook payloads of AlertsPerPayload firing alerts.
// Each is about an alert group of its own, named after prefix and its
// index, so that the receiver takes none of them as a repeat.
func Payloads(prefix string, n int) ([]Payload, error) {
	out := make([]Payload, n)
	for i := range out {
		job := fmt.Sprintf("%s-%d", prefix, i)
		m := &alert.Message{
			Version:           "4",
			GroupKey:          fmt.Sprintf(`{}/{severity="critical"}:{alertname="HighErrorRate", job=%q}`, job),
			Status:            alert.StatusFiring,
			Receiver:          "klaxon",
			GroupLabels:       map[string]string{"alertname": "HighErrorRate", "job": job},
			CommonLabels:      map[string]string{"alertname": "HighErrorRate", "job": job, "severity": "critical"},
			CommonAnnotations: map[string]string{"summary": "5xx above 5% on " + job},
			ExternalURL:       "http://alertmanager:9093",
		}
		for j := range AlertsPerPayload {
			m.Alerts = append(m.Alerts, benchAlert(job, j))
		}
		body, err := m.Encode()
		if err != nil {
			return nil, err
		}
		out[i] = Payload{GroupKey: m.GroupKey, Body: body}
	}
	return out, nil
}

func benchAlert(job string, j int) alert.Alert {
	return alert.Alert{
		Status: alert.StatusFiring,
		Labels: map[string]string{"alertname": "HighErrorRate", "job": job, "severity": "critical",
			"instance": fmt.Sprintf("%s-%d:8080", job, j)},
		Annotations: map[string]string{"summary": "5xx above 5% on " + job,
			"description": "The error ratio has been above 5% for 10 minutes.", "runbook_url": "higherrorrate"},
		StartsAt:     payloadTime.Add(-time.Duration(j) * time.Minute),
		GeneratorURL: "http://prometheus:9090/graph?g0.expr=job%3Ahttp_requests%3Aerror_ratio_rate5m+%3E+0.05",
		Fingerprint:  fmt.Sprintf("%s/%016x", job, j),
	}
}

// DecodeOnly is the reference the receiver's webhook is measured against:
// it reads the body, decodes it into an alert.Message and answers 200,
// keeping nothing. Bodies that are not JSON get 400.
func DecodeOnly() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m alert.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// NewClient returns the HTTP client of the load generators: it keeps up to
// conns connections per host alive, so that bursts of an open loop reuse
// them rather than dialling anew.
func NewClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
	}}
}

// Post sends body to url as Alertmanager does and reads the whole answer.
// Anything but 200 is an error.
func Post(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, excerpt(answer))
	}
	return nil
}

// excerpt is the start of an answer's body, for errors.
func excerpt(b []byte) string {
	const limit = 200
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(bytes.TrimSpace(b))
}

// Throughput is the outcome of posting payloads as fast as a number of
// clients can, each waiting for an answer before its next post.
type Throughput struct {
	Payloads int
	Elapsed  time.Duration
}

// Rate is payloads per second.
func (t Throughput) Rate() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Payloads) / t.Elapsed.Seconds()
}

// Add sums two measurements, as one longer one.
func (t Throughput) Add(u Throughput) Throughput {
	return Throughput{Payloads: t.Payloads + u.Payloads, Elapsed: t.Elapsed + u.Elapsed}
}

// MaxThroughput posts every body from clients goroutines at once (closed
// loop), the i-th to RoundRobin(urls, i), and times the whole.
func MaxThroughput(ctx context.Context, client *http.Client, urls []string, bodies [][]byte, clients int) (Throughput, error) {
	var next atomic.Int64
	var failed firstError
	var wg sync.WaitGroup
	begin := time.Now()
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(bodies); i = int(next.Add(1)) - 1 {
				failed.set(Post(ctx, client, RoundRobin(urls, i), bodies[i]))
			}
		})
	}
	wg.Wait()
	t := Throughput{Payloads: len(bodies), Elapsed: time.Since(begin)}
	return t, failed.err(len(bodies))
}

// OpenLoop posts bodies at rate per second on a fixed schedule, the i-th
// to RoundRobin(urls, i), without waiting for earlier answers (open
// loop), and returns each post's
// latency from the moment it was due to its answer's last byte. Measuring
// from the due time rather than from the send counts a late send against
// the system measured, as a real sender would see it.
func OpenLoop(ctx context.Context, client *http.Client, urls []string, bodies [][]byte, rate float64) ([]time.Duration, error) {
	latencies := make([]time.Duration, len(bodies))
	var failed firstError
	err := schedule(ctx, len(bodies), rate, func(i int, due time.Time) {
		failed.set(Post(ctx, client, RoundRobin(urls, i), bodies[i]))
		latencies[i] = time.Since(due)
	})
	if err != nil {
		return nil, err
	}
	return latencies, failed.err(len(bodies))
}

// RoundRobin is the URL of the i-th post when posts go to each of urls in
// turn: urls[i mod len(urls)], or "" when there are none.
func RoundRobin(urls []string, i int) string {
	if len(urls) == 0 {
		return ""
	}
	return urls[i%len(urls)]
}

// Delivery is a webhook whose notification is to reach an upstream as an
// event with the dedup key Key.
type Delivery struct {
	URL  string
	Body []byte
	Key  string
}

// EndToEnd posts the deliveries at rate per second (open loop) and returns,
// for each, the time from the start of its POST to the first arrival of
// its event at receipts. It waits for every event until ctx ends.
func EndToEnd(ctx context.Context, client *http.Client, deliveries []Delivery, rate float64, receipts *Receipts) ([]time.Duration, error) {
	sent := make([]time.Time, len(deliveries))
	var failed firstError
	err := schedule(ctx, len(deliveries), rate, func(i int, _ time.Time) {
		sent[i] = time.Now()
		failed.set(Post(ctx, client, deliveries[i].URL, deliveries[i].Body))
	})
	if err == nil {
		err = failed.err(len(deliveries))
	}
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(deliveries))
	for i, d := range deliveries {
		keys[i] = d.Key
	}
	arrived, err := receipts.Await(ctx, keys)
	if err != nil {
		return nil, err
	}
	latencies := make([]time.Duration, len(deliveries))
	for i, d := range deliveries {
		latencies[i] = arrived[d.Key].Sub(sent[i])
	}
	return latencies, nil
}

// schedule calls do(i, due) for i from 0 to n-1, each in a goroutine of its
// own started at due = start + i/rate, and waits for them all. A call that
// falls behind does not hold back the next. It stops starting calls when
// ctx ends.
func schedule(ctx context.Context, n int, rate float64, do func(i int, due time.Time)) error {
	if rate <= 0 {
		return fmt.Errorf("rate %v: must be positive", rate)
	}
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	begin := time.Now()
	for i := range n {
		due := begin.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-timer.C:
			}
		}
		wg.Go(func() { do(i, due) })
	}
	return nil
}

// firstError keeps the first of many errors and counts them all.
type firstError struct {
	mu    sync.Mutex
	first error
	n     int
}

func (f *firstError) set(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		f.first = err
	}
	f.n++
}

// err sums up the errors of total posts, or is nil when none failed.
func (f *firstError) err(total int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		return nil
	}
	return fmt.Errorf("%d of %d posts failed, the first with: %w", f.n, total, f.first)
}

// Receipts stands in front of a fake PagerDuty: it records when each event
// that the fake accepts (2xx) first arrived, by its dedup_key, and passes
// every request on to next.
type Receipts struct {
	next    http.Handler
	mu      sync.Mutex
	at      map[string]time.Time
	arrived chan struct{}
}

// NewReceipts returns a Receipts passing requests on to next.
func NewReceipts(next http.Handler) *Receipts {
	return &Receipts{next: next, at: map[string]time.Time{}, arrived: make(chan struct{}, 1)}
}

// ServeHTTP passes the request on and records its event's arrival if the
// fake accepted it.
func (rc *Receipts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	rc.next.ServeHTTP(sw, r)
	var event struct {
		DedupKey string `json:"dedup_key"`
	}
	if sw.status/100 == 2 && json.Unmarshal(body, &event) == nil && event.DedupKey != "" {
		rc.record(event.DedupKey, now)
	}
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (rc *Receipts) record(key string, at time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if _, seen := rc.at[key]; seen {
		return
	}
	rc.at[key] = at
	select {
	case rc.arrived <- struct{}{}:
	default:
	}
}

// Await waits until an event has arrived for every key, and returns when
// each first arrived. It gives up when ctx ends.
func (rc *Receipts) Await(ctx context.Context, keys []string) (map[string]time.Time, error) {
	for {
		got, missing := rc.lookup(keys)
		if missing == 0 {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d events never reached the upstream: %w", missing, len(keys), context.Cause(ctx))
		case <-rc.arrived:
		}
	}
}

func (rc *Receipts) lookup(keys []string) (map[string]time.Time, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	got := make(map[string]time.Time, len(keys))
	for _, k := range keys {
		if at, ok := rc.at[k]; ok {
			got[k] = at
		}
	}
	return got, len(keys) - len(got)
}

package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Takeover is how long the replicas took to take over a faulted
// replica's deliveries: from the fault to the first and to the last
// takeover (klaxon_receiver_takeovers_total) another replica counted
// before the next fault.
type Takeover struct {
	// Fault says what happened to which replica.
	Fault string
	At    time.Time
	// Leased is what the faulted replica held at the fault
	// (klaxon_receiver_leases_held).
	Leased int
	// First and Last are the delays of the first and the last takeover;
	// Count counts the deliveries taken over. All are 0 when none was.
	First, Last time.Duration
	Count       int
}

// takeoverMetric and leasesMetric are the receiver's metrics the
// failover figures read.
const (
	takeoverMetric = "klaxon_receiver_takeovers_total"
	leasesMetric   = "klaxon_receiver_leases_held"
	lostMetric     = "klaxon_receiver_leases_lost_total"
)

// takeoverWatch polls every replica's takeover counter and notes when it
// rose, and by how much. A replica that does not answer (paused, killed)
// is skipped; one that restarted counts from 0 again.
type takeoverWatch struct {
	mu     sync.Mutex
	events []takeoverEvent
	done   sync.WaitGroup
}

type takeoverEvent struct {
	at      time.Time
	replica int
	n       int
}

// watchTakeovers polls the metrics of the replicas at urls
// (http://host:port) every interval until ctx ends; Wait waits for the
// polling to stop.
func watchTakeovers(ctx context.Context, urls []string, interval time.Duration) *takeoverWatch {
	w := &takeoverWatch{}
	for i, u := range urls {
		w.done.Add(1)
		go w.poll(ctx, i, u, interval)
	}
	return w
}

func (w *takeoverWatch) poll(ctx context.Context, replica int, url string, interval time.Duration) {
	defer w.done.Done()
	client := &http.Client{Timeout: 4 * interval}
	last := 0.0
	for {
		if v, err := metricSum(ctx, client, url, takeoverMetric); err == nil {
			n := v - last
			if v < last { // restarted
				n = v
			}
			if n > 0 {
				w.mu.Lock()
				w.events = append(w.events, takeoverEvent{at: time.Now(), replica: replica, n: int(n)})
				w.mu.Unlock()
			}
			last = v
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Wait waits until the polling has stopped.
func (w *takeoverWatch) Wait() { w.done.Wait() }

// after measures the takeovers by replicas other than the faulted one
// from the fault at to until.
func (w *takeoverWatch) after(fault string, faulted int, at, until time.Time) Takeover {
	w.mu.Lock()
	defer w.mu.Unlock()
	tk := Takeover{Fault: fault, At: at}
	for _, e := range w.events {
		if e.replica == faulted || e.at.Before(at) || !e.at.Before(until) {
			continue
		}
		d := e.at.Sub(at)
		if tk.Count == 0 {
			tk.First = d
		}
		tk.Last = d
		tk.Count += e.n
	}
	return tk
}

// log lists the rises of the counters: when, into the scenario begun at
// start, which replica, by how much.
func (w *takeoverWatch) log(start time.Time) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for _, e := range w.events {
		parts = append(parts, fmt.Sprintf("%.2f s replica-%d +%d", e.at.Sub(start).Seconds(), e.replica+1, e.n))
	}
	return strings.Join(parts, ", ")
}

// metricSum reads the receiver's /metrics at base and sums the samples of
// the metric name over its labels.
func metricSum(ctx context.Context, client *http.Client, base, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s/metrics: %s", base, resp.Status)
	}
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%s/metrics: %q: %w", base, line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

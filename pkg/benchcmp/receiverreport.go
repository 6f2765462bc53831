package benchcmp

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The receiver's performance goals, from the issue that asked for the
// benchmark.
const (
	// GoalThroughputRatio: the receiver takes at least half the payloads
	// per second of a handler that only decodes them, every one committed.
	GoalThroughputRatio = 0.5
	// GoalAckP99: the 99th percentile of the time to answer Alertmanager,
	// at GoalAckRate payloads per second.
	GoalAckP99  = 10 * time.Millisecond
	GoalAckRate = 500
)

// ReceiverResult is what Measure found, over one round or several.
type ReceiverResult struct {
	// Clients posted at once in the throughput phase.
	Clients int
	// Receiver and Reference are the throughput phase's figures.
	Receiver, Reference Throughput
	// Batched notifications were committed in Commits transactions during
	// the receiver's throughput phase.
	Batched, Commits int
	// AckRate is the offered load of the acknowledgement-latency phase,
	// and ReceiverAck and ReferenceAck its latencies.
	AckRate                   float64
	ReceiverAck, ReferenceAck []time.Duration
	// EndToEnd are the latencies from a webhook's POST to its event's
	// arrival at the fake PagerDuty, over Teams routing keys.
	EndToEnd []time.Duration
	Teams    int
	// Accepted counts the receiver's 200 answers, warm-up included.
	Accepted int
}

// Add merges the figures of another round into r.
func (r ReceiverResult) Add(o ReceiverResult) ReceiverResult {
	r.Clients, r.AckRate, r.Teams = o.Clients, o.AckRate, o.Teams
	r.Receiver = r.Receiver.Add(o.Receiver)
	r.Reference = r.Reference.Add(o.Reference)
	r.Batched += o.Batched
	r.Commits += o.Commits
	r.ReceiverAck = slices.Concat(r.ReceiverAck, o.ReceiverAck)
	r.ReferenceAck = slices.Concat(r.ReferenceAck, o.ReferenceAck)
	r.EndToEnd = slices.Concat(r.EndToEnd, o.EndToEnd)
	r.Accepted += o.Accepted
	return r
}

// ThroughputRatio is the receiver's payloads per second over the
// reference's.
func (r ReceiverResult) ThroughputRatio() float64 {
	return Ratio(r.Receiver.Rate(), r.Reference.Rate())
}

// PerCommit is the mean number of notifications per transaction in the
// throughput phase.
func (r ReceiverResult) PerCommit() float64 {
	return Ratio(float64(r.Batched), float64(r.Commits))
}

// Goals says whether each goal is met: the throughput ratio, and the p99
// acknowledgement latency when the offered load was GoalAckRate.
func (r ReceiverResult) Goals() (throughput, ack bool) {
	return r.ThroughputRatio() >= GoalThroughputRatio,
		r.AckRate == GoalAckRate && Percentile(r.ReceiverAck, 99) < GoalAckP99
}

// Markdown renders the result as a Markdown table: the receiver against
// the reference, with the ratio receiver / reference and the goals.
func (r ReceiverResult) Markdown() string {
	tput, ack := r.Goals()
	msf := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	lat := func(ds []time.Duration, p float64) time.Duration { return Percentile(ds, p) }
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f", Ratio(float64(a), float64(b))) }
	var sb strings.Builder
	sb.WriteString("| figure | klaxon-receiver | decode-only handler | ratio | goal |\n")
	sb.WriteString("|---|---:|---:|---:|---|\n")
	fmt.Fprintf(&sb, "| max throughput, %d clients, %d payloads each | %.0f /s | %.0f /s | %.2f | ≥ %.2f: %s |\n",
		r.Clients, r.Receiver.Payloads, r.Receiver.Rate(), r.Reference.Rate(), r.ThroughputRatio(), GoalThroughputRatio, verdict(tput))
	fmt.Fprintf(&sb, "| notifications per commit at max throughput | %.1f | | | |\n", r.PerCommit())
	for _, p := range []float64{50, 99} {
		goal := ""
		if p == 99 {
			goal = fmt.Sprintf("< %s at %d/s: %s", msf(GoalAckP99), GoalAckRate, verdict(ack))
		}
		a, b := lat(r.ReceiverAck, p), lat(r.ReferenceAck, p)
		fmt.Fprintf(&sb, "| p%.0f acknowledgement at %.0f/s, %d payloads each | %s | %s | %s | %s |\n",
			p, r.AckRate, len(r.ReceiverAck), msf(a), msf(b), ratio(a, b), goal)
	}
	for _, p := range []float64{50, 99} {
		fmt.Fprintf(&sb, "| p%.0f POST to fake PagerDuty, %d notifications, %d routing keys | %s | | | |\n",
			p, len(r.EndToEnd), r.Teams, msf(lat(r.EndToEnd, p)))
	}
	return sb.String()
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**missed**"
}

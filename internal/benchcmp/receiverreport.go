package benchcmp

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/internal/testkit"
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

// Load is the throughput phase at one number of senders.
type Load struct {
	// Clients posted at once, each waiting for an answer before its next
	// post.
	Clients int
	// Receiver and Reference are the two handlers' figures.
	Receiver, Reference Throughput
	// Batched notifications were committed in Commits transactions during
	// the receiver's part.
	Batched, Commits int
}

// Ratio is the receiver's payloads per second over the reference's.
func (l Load) Ratio() float64 { return Ratio(l.Receiver.Rate(), l.Reference.Rate()) }

// PerCommit is the mean number of notifications per transaction.
func (l Load) PerCommit() float64 { return Ratio(float64(l.Batched), float64(l.Commits)) }

func (l Load) add(o Load) Load {
	l.Receiver, l.Reference = l.Receiver.Add(o.Receiver), l.Reference.Add(o.Reference)
	l.Batched += o.Batched
	l.Commits += o.Commits
	return l
}

// ReceiverResult is what Measure found, over one round or several.
type ReceiverResult struct {
	// Loads are the throughput phase, one per number of clients.
	Loads []Load
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
	// Fsync are the store's disk's fsyncs (FsyncProbe), the floor under
	// the receiver's acknowledgements.
	Fsync []time.Duration
}

// Add merges the figures of another round into r, each load with r's at
// the same number of clients.
func (r ReceiverResult) Add(o ReceiverResult) ReceiverResult {
	r.AckRate, r.Teams = o.AckRate, o.Teams
	r.Loads = slices.Clone(r.Loads)
	for _, l := range o.Loads {
		i := slices.IndexFunc(r.Loads, func(m Load) bool { return m.Clients == l.Clients })
		if i < 0 {
			r.Loads = append(r.Loads, l)
			continue
		}
		r.Loads[i] = r.Loads[i].add(l)
	}
	r.ReceiverAck = slices.Concat(r.ReceiverAck, o.ReceiverAck)
	r.ReferenceAck = slices.Concat(r.ReferenceAck, o.ReferenceAck)
	r.EndToEnd = slices.Concat(r.EndToEnd, o.EndToEnd)
	r.Fsync = slices.Concat(r.Fsync, o.Fsync)
	r.Accepted += o.Accepted
	return r
}

// Peak is each handler's max throughput: its best rate over the numbers
// of clients, and the Load it came from.
func (r ReceiverResult) Peak() (receiver, reference Load) {
	for _, l := range r.Loads {
		if l.Receiver.Rate() > receiver.Receiver.Rate() {
			receiver = l
		}
		if l.Reference.Rate() > reference.Reference.Rate() {
			reference = l
		}
	}
	return receiver, reference
}

// ThroughputRatio is the receiver's max throughput over the reference's.
func (r ReceiverResult) ThroughputRatio() float64 {
	rec, ref := r.Peak()
	return Ratio(rec.Receiver.Rate(), ref.Reference.Rate())
}

// Goals says whether each goal is met: the throughput ratio, and the p99
// acknowledgement latency when the offered load was GoalAckRate.
func (r ReceiverResult) Goals() (throughput, ack bool) {
	return r.ThroughputRatio() >= GoalThroughputRatio,
		r.AckRate == GoalAckRate && testkit.Percentile(r.ReceiverAck, 99) < GoalAckP99
}

// Markdown renders the result as a Markdown table: the receiver against
// the reference, with the ratio receiver / reference and the goals.
func (r ReceiverResult) Markdown() string {
	tput, ack := r.Goals()
	msf := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	lat := func(ds []time.Duration, p float64) time.Duration { return testkit.Percentile(ds, p) }
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f", Ratio(float64(a), float64(b))) }
	var sb strings.Builder
	sb.WriteString("| figure | klaxon-receiver | decode-only handler | ratio | goal |\n")
	sb.WriteString("|---|---:|---:|---:|---|\n")
	for _, l := range r.Loads {
		fmt.Fprintf(&sb, "| throughput, %d clients, %d payloads each (%.1f notifications per commit) | %.0f /s | %.0f /s | %.2f | |\n",
			l.Clients, l.Receiver.Payloads, l.PerCommit(), l.Receiver.Rate(), l.Reference.Rate(), l.Ratio())
	}
	rec, ref := r.Peak()
	fmt.Fprintf(&sb, "| max throughput (the best of each column) | %.0f /s at %d clients | %.0f /s at %d clients | %.2f | ≥ %.2f: %s |\n",
		rec.Receiver.Rate(), rec.Clients, ref.Reference.Rate(), ref.Clients, r.ThroughputRatio(), GoalThroughputRatio, verdict(tput))
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
		if len(r.Fsync) == 0 {
			break
		}
		a, f := lat(r.ReceiverAck, p), lat(r.Fsync, p)
		fmt.Fprintf(&sb, "| p%.0f acknowledgement against the p%.0f fsync of the store's disk in the reference's column (%d kB at %.0f/s, %d fsyncs) | %s | %s | %s | |\n",
			p, p, DefaultFsyncProbe.Size>>10, DefaultFsyncProbe.Rate, len(r.Fsync), msf(a), msf(f), ratio(a, f))
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

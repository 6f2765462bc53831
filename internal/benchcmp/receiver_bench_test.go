package benchcmp_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/benchcmp"
	"github.com/klaxonhq/klaxon/internal/testkit"
)

var (
	receiverMD        = flag.String("receivermd", "", "also write BenchmarkReceiverIngest's Markdown table to this file")
	receiverInProcess = flag.Bool("receiver.inprocess", false, "BenchmarkReceiverIngest: post from this process rather than from a load generator process of its own")
)

// receiverPlan is one round of BenchmarkReceiverIngest, as the issue asks:
// payloads of 10 alerts; at full speed from 16, 64 and 256 senders (a
// handler's max throughput is its best rate over them: the receiver
// commits in batches, which fill as senders wait); 500 payloads a second
// for the acknowledgement latency; a few hundred notifications end to end.
var receiverPlan = benchcmp.Plan{
	Clients:     []int{16, 64, 256},
	Payloads:    4000,
	WarmUp:      300,
	AckRate:     benchcmp.GoalAckRate,
	AckPayloads: 2500,
	// 30 a second over receiverTeams routing keys is 1.5 a second per
	// key, under the receiver's PagerDuty pace of 110 a minute (1.83 a
	// second) per key: its rate limiter never holds a delivery back.
	EndToEndRate:     30,
	EndToEndPayloads: 300,
	EndToEndWait:     2 * time.Minute,
}

// receiverTeams is how many PagerDuty routing keys the end-to-end phase
// spreads its notifications over.
const receiverTeams = 20

// BenchmarkReceiverIngest measures klaxon-receiver's webhook, built from
// pkg/receiver with a SQLite store in a temporary directory, against a
// handler that only decodes the same JSON, in the same run, posting from a load generator process:
// throughput, acknowledgement latency at a fixed offered load, and the
// latency from Alertmanager's POST to a fake PagerDuty's receipt. One
// iteration is one round of all three; run it with -benchtime 1x.
func BenchmarkReceiverIngest(b *testing.B) {
	dir := b.TempDir()
	if benchcmp.OnTmpfs(dir) {
		b.Log("warning: the store is on a tmpfs, where fsync costs nothing; set TMPDIR to a disk")
	}
	rig, err := benchcmp.StartReceiverRig(b.Context(), dir, receiverTeams, promslog.NewNopLogger())
	if err != nil {
		b.Fatal(err)
	}
	client := benchcmp.NewClient(256)
	defer client.CloseIdleConnections()

	loadBefore := loadAverage()
	var total benchcmp.ReceiverResult
	plan := receiverPlan
	plan.InProcess = *receiverInProcess
	round := 0
	for b.Loop() {
		res, err := rig.Measure(b.Context(), client, plan, round)
		if err != nil {
			rig.Close()
			b.Fatal(err)
		}
		// The disk's own fsyncs, between the rounds: the floor under
		// the acknowledgements.
		if res.Fsync, err = benchcmp.DefaultFsyncProbe.Run(b.Context(), dir); err != nil {
			rig.Close()
			b.Fatal(err)
		}
		total = total.Add(res)
		round++
	}
	if err := rig.Close(); err != nil {
		b.Fatal(err)
	}
	checkCommitted(b, rig, total)
	// The machine is shared: say how busy it was.
	b.Logf("load average before: %s; after: %s", loadBefore, loadAverage())
	reportReceiver(b, total)
}

// loadAverage is the 1, 5 and 15 minute load averages from /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// checkCommitted fails b unless the store committed every notification the
// receiver answered 200 for: the store counts them once their transaction
// is durable.
func checkCommitted(b *testing.B, rig *benchcmp.ReceiverRig, res benchcmp.ReceiverResult) {
	b.Helper()
	committed, _, err := rig.Committed()
	if err != nil {
		b.Fatal(err)
	}
	if committed != res.Accepted {
		b.Fatalf("the store committed %d notifications, the receiver answered 200 to %d", committed, res.Accepted)
	}
}

func reportReceiver(b *testing.B, res benchcmp.ReceiverResult) {
	ms := func(ds []time.Duration, p float64) float64 {
		return float64(testkit.Percentile(ds, p)) / float64(time.Millisecond)
	}
	rec, ref := res.Peak()
	b.ReportMetric(rec.Receiver.Rate(), "receiver-payloads/s")
	b.ReportMetric(ref.Reference.Rate(), "reference-payloads/s")
	b.ReportMetric(res.ThroughputRatio(), "throughput-ratio")
	b.ReportMetric(rec.PerCommit(), "notifications/commit")
	for _, l := range res.Loads {
		b.ReportMetric(l.Ratio(), fmt.Sprintf("ratio-%d-clients", l.Clients))
	}
	b.ReportMetric(ms(res.ReceiverAck, 50), "receiver-ack-p50-ms")
	b.ReportMetric(ms(res.ReceiverAck, 99), "receiver-ack-p99-ms")
	b.ReportMetric(ms(res.ReferenceAck, 50), "reference-ack-p50-ms")
	b.ReportMetric(ms(res.ReferenceAck, 99), "reference-ack-p99-ms")
	b.ReportMetric(ms(res.Fsync, 50), "fsync-p50-ms")
	b.ReportMetric(ms(res.Fsync, 99), "fsync-p99-ms")
	b.ReportMetric(benchcmp.Ratio(ms(res.ReceiverAck, 99), ms(res.Fsync, 99)), "ack-p99/fsync-p99")
	b.ReportMetric(ms(res.EndToEnd, 50), "e2e-p50-ms")
	b.ReportMetric(ms(res.EndToEnd, 99), "e2e-p99-ms")

	table := res.Markdown()
	// No leading newline: the testing package cuts benchmark logs at 10 lines.
	b.Log(strings.TrimSuffix(table, "\n"))
	if *receiverMD != "" {
		if err := os.WriteFile(*receiverMD, []byte(table), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

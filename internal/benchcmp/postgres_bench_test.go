package benchcmp_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/benchcmp"
	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
)

var postgresMD = flag.String("postgresmd", "", "also write BenchmarkReceiverIngestPostgres's Markdown table to this file")

// BenchmarkReceiverIngestPostgres measures klaxon-receiver on its
// PostgreSQL store, one receiver and three on one database, against the
// decode-only handler and one receiver on SQLite, all in the same rounds
// of receiverPlan (each variant in turn at every step; who goes first
// turns with the round). Each PostgreSQL variant has a fresh database on
// the test server (testenv.PostgresDatabase); the three receivers are
// three receiver.Service instances in this process, each on a loopback
// server of its own, and the load generator posts to them in turn. One
// iteration is one round; run it with -benchtime 1x.
func BenchmarkReceiverIngestPostgres(b *testing.B) {
	dir := b.TempDir()
	if benchcmp.OnTmpfs(dir) {
		b.Log("warning: the SQLite store is on a tmpfs, where fsync costs nothing; set TMPDIR to a disk")
	}
	sqlite := startRig(b, filepath.Join(dir, "sqlite"), benchcmp.RigOptions{Teams: receiverTeams})
	pg1 := startRig(b, filepath.Join(dir, "pg1"), benchcmp.RigOptions{Teams: receiverTeams, Postgres: testenv.PostgresDatabase(b)})
	pg3 := startRig(b, filepath.Join(dir, "pg3"), benchcmp.RigOptions{Teams: receiverTeams, Postgres: testenv.PostgresDatabase(b), Replicas: 3})
	rigs := []*benchcmp.ReceiverRig{sqlite, pg1, pg3}
	variants := []benchcmp.Variant{
		sqlite.Reference(benchcmp.DecodeVariant),
		sqlite.Variant(benchcmp.SQLiteVariant),
		pg1.Variant(benchcmp.Postgres1Variant),
		pg3.Variant(benchcmp.Postgres3Variant),
	}
	client := benchcmp.NewClient(256)
	defer client.CloseIdleConnections()

	plan := receiverPlan
	plan.InProcess = *receiverInProcess
	var total benchcmp.Comparison
	round := 0
	for b.Loop() {
		// The machine is shared: say how busy it was.
		before := loadAverage()
		res, err := benchcmp.MeasureVariants(b.Context(), client, plan, variants, round)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("round %d: load average before: %s; after: %s", round, before, loadAverage())
		total = total.Add(res)
		round++
	}
	for _, rig := range rigs {
		if err := rig.Close(); err != nil {
			b.Fatal(err)
		}
	}
	for i, v := range variants[1:] {
		checkVariantCommitted(b, rigs[i], total, v.Name)
	}
	reportPostgres(b, total)
}

// startRig starts a rig in dir, closed when b ends.
func startRig(b *testing.B, dir string, o benchcmp.RigOptions) *benchcmp.ReceiverRig {
	b.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	rig, err := benchcmp.StartRig(b.Context(), dir, o, promslog.NewNopLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rig.Close() })
	return rig
}

// checkVariantCommitted fails b unless rig's store committed every
// notification its receivers answered 200 for in the variant named name.
func checkVariantCommitted(b *testing.B, rig *benchcmp.ReceiverRig, c benchcmp.Comparison, name string) {
	b.Helper()
	v, ok := c.Variant(name)
	if !ok {
		b.Fatalf("no figures for %s", name)
	}
	committed, _, err := rig.Committed()
	if err != nil {
		b.Fatal(err)
	}
	if committed != v.Accepted {
		b.Fatalf("%s: the store committed %d notifications, the receivers answered 200 to %d", name, committed, v.Accepted)
	}
}

func reportPostgres(b *testing.B, c benchcmp.Comparison) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	at := benchcmp.GoalPostgresClients
	for _, v := range c.Variants {
		b.ReportMetric(v.At(at).Throughput.Rate(), fmt.Sprintf("%s-%d-payloads/s", v.Name, at))
		b.ReportMetric(v.Peak().Throughput.Rate(), v.Name+"-best-payloads/s")
		b.ReportMetric(ms(c.AckP99(v.Name)), v.Name+"-ack-p99-ms")
	}
	for _, r := range benchcmp.PostgresRatios {
		b.ReportMetric(c.RatioAt(r, at), fmt.Sprintf("%s-%d", r, at))
		b.ReportMetric(c.PeakRatio(r), r.String()+"-best")
	}
	for _, name := range []string{benchcmp.Postgres1Variant, benchcmp.Postgres3Variant} {
		v, _ := c.Variant(name)
		b.ReportMetric(ms(testkit.Percentile(v.EndToEnd, 99)), name+"-e2e-p99-ms")
	}

	table := c.PostgresMarkdown()
	// No leading newline: the testing package cuts benchmark logs at 10 lines.
	b.Log(strings.TrimSuffix(table, "\n"))
	if *postgresMD != "" {
		if err := os.WriteFile(*postgresMD, []byte(table), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

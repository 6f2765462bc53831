package benchcmp

import (
	"fmt"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/internal/testkit"
)

// The variants of the PostgreSQL store's benchmark, by name.
const (
	// DecodeVariant is the decode-only reference.
	DecodeVariant = "decode"
	// SQLiteVariant is one receiver on SQLite.
	SQLiteVariant = "sqlite"
	// Postgres1Variant is one receiver on PostgreSQL.
	Postgres1Variant = "pg1"
	// Postgres3Variant is three receivers on one PostgreSQL database.
	Postgres3Variant = "pg3"
)

// variantTitles head the variants' columns.
var variantTitles = map[string]string{
	DecodeVariant:    "decode-only handler",
	SQLiteVariant:    "SQLite, 1 receiver",
	Postgres1Variant: "PostgreSQL, 1 receiver",
	Postgres3Variant: "PostgreSQL, 3 receivers",
}

// The PostgreSQL store's goals, from the issue that asked for it.
const (
	// GoalPostgresClients is the number of senders the throughput goals
	// are measured at.
	GoalPostgresClients = 64
	// GoalPostgresRatio: one receiver on PostgreSQL takes at least this
	// share of the decode-only handler's payloads per second.
	GoalPostgresRatio = 0.5
	// GoalReplicaScaling: three receivers on one database take at least
	// this many times the payloads per second of one.
	GoalReplicaScaling = 1.5
	// GoalPostgresAckP99: the 99th percentile of the acknowledgement at
	// GoalAckRate, for one receiver on PostgreSQL and for three.
	GoalPostgresAckP99 = 20 * time.Millisecond
)

// VariantRatio is the throughput of variant Of over that of variant To.
type VariantRatio struct{ Of, To string }

// String is the ratio's name: "pg1/decode".
func (r VariantRatio) String() string { return r.Of + "/" + r.To }

// PostgresRatios are the ratios the PostgreSQL benchmark reports: one
// receiver on PostgreSQL against the decode-only handler (the goal
// GoalPostgresRatio), three against one (GoalReplicaScaling), and one on
// PostgreSQL against one on SQLite.
var PostgresRatios = []VariantRatio{
	{Postgres1Variant, DecodeVariant},
	{Postgres3Variant, Postgres1Variant},
	{Postgres1Variant, SQLiteVariant},
}

// RatioAt is r's throughput ratio at clients senders, NaN when either
// variant was not measured there.
func (c Comparison) RatioAt(r VariantRatio, clients int) float64 {
	of, _ := c.Variant(r.Of)
	to, _ := c.Variant(r.To)
	return Ratio(of.At(clients).Throughput.Rate(), to.At(clients).Throughput.Rate())
}

// PeakRatio is r's ratio of the two variants' max throughput, each at its
// own best number of senders.
func (c Comparison) PeakRatio(r VariantRatio) float64 {
	of, _ := c.Variant(r.Of)
	to, _ := c.Variant(r.To)
	return Ratio(of.Peak().Throughput.Rate(), to.Peak().Throughput.Rate())
}

// AckP99 is the 99th percentile of the variant's acknowledgement latency.
func (c Comparison) AckP99(name string) time.Duration {
	v, _ := c.Variant(name)
	return testkit.Percentile(v.Ack, 99)
}

// PostgresGoals says whether each goal of the PostgreSQL store is met:
// GoalPostgresRatio and GoalReplicaScaling at GoalPostgresClients, and
// GoalPostgresAckP99 for both PostgreSQL variants when the offered load
// was GoalAckRate.
func (c Comparison) PostgresGoals() (ratio, scaling, ack bool) {
	ratio = c.RatioAt(PostgresRatios[0], GoalPostgresClients) >= GoalPostgresRatio
	scaling = c.RatioAt(PostgresRatios[1], GoalPostgresClients) >= GoalReplicaScaling
	ack = c.AckRate == GoalAckRate
	for _, name := range []string{Postgres1Variant, Postgres3Variant} {
		v, ok := c.Variant(name)
		ack = ack && ok && len(v.Ack) > 0 && c.AckP99(name) < GoalPostgresAckP99
	}
	return ratio, scaling, ack
}

// PostgresMarkdown renders the comparison as a Markdown table: a column
// per variant, in the order measured, then one per PostgresRatios, and the
// goals. Latency rows give the ratios of the latencies.
func (c Comparison) PostgresMarkdown() string {
	var sb strings.Builder
	sb.WriteString("| figure |")
	for _, v := range c.Variants {
		fmt.Fprintf(&sb, " %s |", title(v.Name))
	}
	for _, r := range PostgresRatios {
		fmt.Fprintf(&sb, " %s |", r)
	}
	sb.WriteString(" goal |\n|---|")
	sb.WriteString(strings.Repeat("---:|", len(c.Variants)+len(PostgresRatios)))
	sb.WriteString("---|\n")
	c.throughputRows(&sb)
	c.latencyRows(&sb)
	return sb.String()
}

func title(name string) string {
	if t, ok := variantTitles[name]; ok {
		return t
	}
	return name
}

func (c Comparison) throughputRows(sb *strings.Builder) {
	ratio, scaling, _ := c.PostgresGoals()
	var clients []int
	if len(c.Variants) > 0 {
		for _, l := range c.Variants[0].Loads {
			clients = append(clients, l.Clients)
		}
	}
	for _, n := range clients {
		payloads := c.Variants[0].At(n).Throughput.Payloads
		fmt.Fprintf(sb, "| throughput, %d senders, %d payloads each |", n, payloads)
		for _, v := range c.Variants {
			l := v.At(n)
			fmt.Fprintf(sb, " %.0f /s%s |", l.Throughput.Rate(), perCommit(l))
		}
		for _, r := range PostgresRatios {
			fmt.Fprintf(sb, " %.2f |", c.RatioAt(r, n))
		}
		goal := ""
		if n == GoalPostgresClients {
			goal = fmt.Sprintf("%s ≥ %.2f: %s; %s ≥ %.2f: %s", PostgresRatios[0], GoalPostgresRatio, verdict(ratio),
				PostgresRatios[1], GoalReplicaScaling, verdict(scaling))
		}
		fmt.Fprintf(sb, " %s |\n", goal)
	}
	sb.WriteString("| max throughput (the best of each column) |")
	for _, v := range c.Variants {
		p := v.Peak()
		fmt.Fprintf(sb, " %.0f /s at %d |", p.Throughput.Rate(), p.Clients)
	}
	for _, r := range PostgresRatios {
		fmt.Fprintf(sb, " %.2f |", c.PeakRatio(r))
	}
	sb.WriteString(" |\n")
}

// perCommit is a rig's notifications per commit, for a throughput cell.
func perCommit(l VariantLoad) string {
	if l.Commits == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.1f per commit)", l.PerCommit())
}

func (c Comparison) latencyRows(sb *strings.Builder) {
	_, _, ack := c.PostgresGoals()
	acks := 0
	if len(c.Variants) > 0 {
		acks = len(c.Variants[0].Ack)
	}
	for _, p := range []float64{50, 99} {
		goal := ""
		if p == 99 {
			goal = fmt.Sprintf("PostgreSQL < %s at %d/s: %s", millis(GoalPostgresAckP99), GoalAckRate, verdict(ack))
		}
		c.latencyRow(sb, fmt.Sprintf("p%.0f acknowledgement at %.0f/s, %d payloads each", p, c.AckRate, acks),
			func(v VariantResult) []time.Duration { return v.Ack }, p, goal)
	}
	e2e, teams := 0, c.Teams
	for _, v := range c.Variants {
		e2e = max(e2e, len(v.EndToEnd))
	}
	if e2e == 0 {
		return
	}
	for _, p := range []float64{50, 99} {
		c.latencyRow(sb, fmt.Sprintf("p%.0f POST to fake PagerDuty, %d notifications, %d routing keys", p, e2e, teams),
			func(v VariantResult) []time.Duration { return v.EndToEnd }, p, "")
	}
}

// latencyRow is a row of the p-th percentile of each variant's latencies
// of, and their ratios; blank where a variant has none.
func (c Comparison) latencyRow(sb *strings.Builder, figure string, of func(VariantResult) []time.Duration, p float64, goal string) {
	at := func(name string) time.Duration {
		v, _ := c.Variant(name)
		return testkit.Percentile(of(v), p)
	}
	fmt.Fprintf(sb, "| %s |", figure)
	for _, v := range c.Variants {
		if len(of(v)) == 0 {
			sb.WriteString(" |")
			continue
		}
		fmt.Fprintf(sb, " %s |", millis(at(v.Name)))
	}
	for _, r := range PostgresRatios {
		a, b := at(r.Of), at(r.To)
		if a == 0 || b == 0 {
			sb.WriteString(" |")
			continue
		}
		fmt.Fprintf(sb, " %.2f |", Ratio(float64(a), float64(b)))
	}
	fmt.Fprintf(sb, " %s |\n", goal)
}

func millis(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

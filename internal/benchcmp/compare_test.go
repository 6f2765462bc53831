package benchcmp

import (
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
)

func TestRoundRobin(t *testing.T) {
	urls := []string{"a", "b", "c"}
	var got []string
	for i := range 7 {
		got = append(got, RoundRobin(urls, i))
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "a", "b", "c", "a"}, got); diff != "" {
		t.Errorf("posts 0 to 6 over three URLs (-want +got):\n%s", diff)
	}
	if got := RoundRobin([]string{"only"}, 5); got != "only" {
		t.Errorf("one URL: %q", got)
	}
	if got := RoundRobin(nil, 0); got != "" {
		t.Errorf("no URLs: %q, want none", got)
	}
}

// TestMaxThroughputSpreadsOverURLs: each of three servers gets every third
// body, each once.
func TestMaxThroughputSpreadsOverURLs(t *testing.T) {
	var recs [3]*recorder
	var urls []string
	for i := range recs {
		recs[i] = &recorder{}
		srv := httptest.NewServer(recs[i])
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	if _, err := MaxThroughput(t.Context(), NewClient(4), urls, numbered(30), 4); err != nil {
		t.Fatal(err)
	}
	all := wantNumbered(30)
	for i, rec := range recs {
		var want []string
		for j := i; j < len(all); j += len(recs) {
			want = append(want, all[j])
		}
		if diff := cmp.Diff(want, rec.sorted()); diff != "" {
			t.Errorf("server %d's bodies (-want +got):\n%s", i, diff)
		}
	}
}

// TestOpenLoopSpreadsOverURLs: the open loop's posts go round the URLs too.
func TestOpenLoopSpreadsOverURLs(t *testing.T) {
	a, b := &recorder{}, &recorder{}
	sa, sb := httptest.NewServer(a), httptest.NewServer(b)
	defer sa.Close()
	defer sb.Close()
	if _, err := OpenLoop(t.Context(), NewClient(4), []string{sa.URL, sb.URL}, numbered(4), 1000); err != nil {
		t.Fatal(err)
	}
	if got := slices.Concat(a.sorted(), b.sorted()); !slices.Equal(got, []string{"000", "002", "001", "003"}) {
		t.Errorf("bodies, the first server's then the second's: %q", got)
	}
}

func TestRotation(t *testing.T) {
	var got [][]int
	for round := range 5 {
		got = append(got, Rotation(4, round))
	}
	want := [][]int{{0, 1, 2, 3}, {1, 2, 3, 0}, {2, 3, 0, 1}, {3, 0, 1, 2}, {0, 1, 2, 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("orders of rounds 0 to 4 (-want +got):\n%s", diff)
	}
}

func TestComparisonAdd(t *testing.T) {
	round := Comparison{AckRate: 500, Teams: 20, Variants: []VariantResult{
		{Name: "ref", Loads: []VariantLoad{{Clients: 16, Throughput: Throughput{Payloads: 100, Elapsed: time.Second}}}, Ack: ms(1)},
		{Name: "rig", Loads: []VariantLoad{{Clients: 16, Throughput: Throughput{Payloads: 50, Elapsed: time.Second}, Batched: 50, Commits: 5}},
			Ack: ms(2), EndToEnd: ms(3), Accepted: 60},
	}}
	got := Comparison{}.Add(round).Add(round)
	rig, ok := got.Variant("rig")
	if !ok {
		t.Fatal("no variant rig after Add")
	}
	l := rig.At(16)
	if l.Throughput.Payloads != 100 || l.Commits != 10 || l.PerCommit() != 10 || rig.Accepted != 120 || len(rig.Ack) != 2 || len(rig.EndToEnd) != 2 {
		t.Errorf("two rounds of rig merged: %+v, accepted %d, %d acks, %d end-to-end; want 100 payloads, 10 commits, 120, 2, 2",
			l, rig.Accepted, len(rig.Ack), len(rig.EndToEnd))
	}
	if ref, _ := got.Variant("ref"); ref.Peak().Throughput.Rate() != 100 || ref.At(64).Clients != 64 || ref.At(64).Throughput.Payloads != 0 {
		t.Errorf("ref merged: peak %v /s, at 64 clients %+v", ref.Peak().Throughput.Rate(), ref.At(64))
	}
	if _, ok := got.Variant("none"); ok {
		t.Error("Variant found one never measured")
	}
	if round.Variants[1].Accepted != 60 || len(round.Variants[1].Ack) != 1 {
		t.Error("Add changed the round it added")
	}
}

func TestStartRigWantsPostgresForReplicas(t *testing.T) {
	_, err := StartRig(t.Context(), t.TempDir(), RigOptions{Replicas: 3}, nil)
	if want := "3 receivers on SQLite: replicas need a PostgreSQL store"; err == nil || err.Error() != want {
		t.Errorf("StartRig: %v, want %q", err, want)
	}
}

// exampleComparison is two rounds of the four variants of the PostgreSQL
// benchmark, at 16 and 64 senders.
func exampleComparison() Comparison {
	tput := func(payloads int, elapsed time.Duration) Throughput {
		return Throughput{Payloads: payloads, Elapsed: elapsed}
	}
	round := Comparison{AckRate: 500, Teams: 20, Variants: []VariantResult{
		{Name: DecodeVariant, Loads: []VariantLoad{
			{Clients: 16, Throughput: tput(4000, 500*time.Millisecond)},
			{Clients: 64, Throughput: tput(4000, 400*time.Millisecond)},
		}, Ack: ms(1, 1, 1, 2)},
		{Name: SQLiteVariant, Loads: []VariantLoad{
			{Clients: 16, Throughput: tput(4000, time.Second), Batched: 4000, Commits: 500},
			{Clients: 64, Throughput: tput(4000, 800*time.Millisecond), Batched: 4000, Commits: 200},
		}, Ack: ms(1, 2, 3, 9), EndToEnd: ms(3, 4, 5, 6), Accepted: 9000},
		{Name: Postgres1Variant, Loads: []VariantLoad{
			{Clients: 16, Throughput: tput(4000, 2*time.Second), Batched: 4000, Commits: 1000},
			{Clients: 64, Throughput: tput(4000, 1600*time.Millisecond), Batched: 4000, Commits: 400},
		}, Ack: ms(2, 3, 4, 15), EndToEnd: ms(4, 5, 6, 8), Accepted: 9000},
		{Name: Postgres3Variant, Loads: []VariantLoad{
			{Clients: 16, Throughput: tput(4000, 1500*time.Millisecond), Batched: 4000, Commits: 1200},
			{Clients: 64, Throughput: tput(4000, 1200*time.Millisecond), Batched: 4000, Commits: 600},
		}, Ack: ms(2, 3, 5, 19), EndToEnd: ms(4, 6, 7, 9), Accepted: 9000},
	}}
	return Comparison{}.Add(round).Add(round)
}

func TestPostgresMarkdown(t *testing.T) {
	testkit.Golden(t, filepath.Join("testdata", "postgres.md"), exampleComparison().PostgresMarkdown())
}

func TestPostgresGoals(t *testing.T) {
	for _, tc := range []struct {
		name                string
		change              func(*Comparison)
		ratio, scaling, ack bool
	}{
		// At 64 senders, over the two rounds: decode-only 8000 payloads in
		// 0.8 s, pg1 8000 in 3.2 s, pg3 8000 in 2.4 s.
		{"as measured", func(*Comparison) {}, false, false, true},
		{"pg1 at half the decode-only handler", func(c *Comparison) { c.Variants[0].Loads[1].Throughput.Payloads = 4000 }, true, false, true},
		{"pg3 at 1.5 times pg1", func(c *Comparison) { c.Variants[3].Loads[1].Throughput.Payloads = 9000 }, false, true, true},
		{"scaling only at another number of senders", func(c *Comparison) { c.Variants[3].Loads[0].Throughput.Payloads = 80000 }, false, false, true},
		{"pg3's ack p99 at 20 ms", func(c *Comparison) { c.Variants[3].Ack = ms(20, 20) }, false, false, false},
		{"pg1's ack p99 over 20 ms", func(c *Comparison) { c.Variants[2].Ack = ms(25, 25) }, false, false, false},
		{"another rate", func(c *Comparison) { c.AckRate = 400 }, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := exampleComparison()
			tc.change(&c)
			ratio, scaling, ack := c.PostgresGoals()
			if ratio != tc.ratio || scaling != tc.scaling || ack != tc.ack {
				t.Errorf("PostgresGoals() = %v, %v, %v, want %v, %v, %v", ratio, scaling, ack, tc.ratio, tc.scaling, tc.ack)
			}
		})
	}
}

// TestPostgresRig runs a small round through three receivers on one
// PostgreSQL database and one on SQLite: every receiver takes its share of
// the posts, the store commits every one answered 200, and each rig's
// events reach its fake PagerDuty.
func TestPostgresRig(t *testing.T) {
	dsn := testenv.PostgresDatabase(t)
	logger := slog.New(slog.DiscardHandler)
	pg, err := StartRig(t.Context(), t.TempDir(), RigOptions{Teams: 2, Postgres: dsn, Replicas: 3}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	sqlite, err := StartRig(t.Context(), t.TempDir(), RigOptions{Teams: 2}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite.Close()
	if len(pg.URLs) != 3 || len(pg.Webhooks(IngestRoute)) != 3 {
		t.Fatalf("URLs %q, want three receivers", pg.URLs)
	}
	plan := Plan{Clients: []int{4}, Payloads: 30, WarmUp: 3, AckRate: 200, AckPayloads: 12,
		EndToEndRate: 20, EndToEndPayloads: 6, EndToEndWait: time.Minute}
	client := NewClient(8)
	defer client.CloseIdleConnections()
	vs := []Variant{sqlite.Reference(DecodeVariant), sqlite.Variant(SQLiteVariant), pg.Variant(Postgres3Variant)}
	c, err := MeasureVariants(t.Context(), client, plan, vs, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, rig := range []*ReceiverRig{pg, sqlite} {
		if err := rig.Close(); err != nil {
			t.Fatal(err)
		}
	}
	want := 3 + 30 + 12 + 6
	for _, v := range c.Variants[1:] {
		committed, _, err := vs[slices.IndexFunc(vs, func(w Variant) bool { return w.Name == v.Name })].Rig.Committed()
		if err != nil {
			t.Fatal(err)
		}
		if v.Accepted != want || committed != want || v.At(4).Batched != 30 || len(v.Ack) != 12 || len(v.EndToEnd) != 6 {
			t.Errorf("%s: accepted %d, committed %d, %d in the throughput phase, %d acks, %d end to end; want %d, %d, 30, 12, 6",
				v.Name, v.Accepted, committed, v.At(4).Batched, len(v.Ack), len(v.EndToEnd), want, want)
		}
	}
	// Each receiver took every third post of each phase.
	for i, rep := range pg.replicas {
		if n, _, err := rep.committed(); err != nil || n != 1+10+4+2 {
			t.Errorf("receiver %d committed %d (%v), want 17", i+1, n, err)
		}
	}
	checkEvents(t, pg, 6)
	checkEvents(t, sqlite, 6)
	if ref := c.Variants[0]; ref.Accepted != 0 || ref.At(4).Throughput.Payloads != 30 || len(ref.EndToEnd) != 0 {
		t.Errorf("the reference: %+v", ref)
	}
}

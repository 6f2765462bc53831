package benchcmp

import (
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

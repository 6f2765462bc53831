package chaos_test

import (
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/chaos"
)

func init() {
	scenarios = append(scenarios, scenario{"full disk", testFullDisk}, scenario{"read-only", testReadOnly},
		scenario{"read-only after a stop", testReadOnlyAfterStop}, scenario{"replicas", testReplicas})
}

// storePlan is the same in both versions: the scenarios stage their
// trouble and end it; nothing in them grows with time.
var storePlan = chaos.StorePlan{Before: 5, After: 5, Wait: 3 * time.Minute}

func testFullDisk(t *testing.T, bin string) {
	f, rep := chaos.FullDisk(t, bin, storePlan)
	record(t, f)
	checkStore(t, f, rep, "database or disk is full")
}

func testReadOnly(t *testing.T, bin string) {
	f, rep := chaos.ReadOnly(t, bin, storePlan)
	record(t, f)
	checkStore(t, f, rep, "readonly")
}

func testReadOnlyAfterStop(t *testing.T, bin string) {
	f, rep := chaos.ReadOnlyAfterStop(t, bin, storePlan)
	record(t, f)
	checkStore(t, f, rep, "opening the store: ")
	t.Logf("/-/ready answered %s; the store's error was logged %d times", rep.NotReady, rep.Logged)
	if !strings.Contains(rep.NotReady, "opening the store") {
		t.Errorf("/-/ready answered %q, want the reason the store cannot be opened", rep.NotReady)
	}
	if rep.Logged != 1 {
		t.Errorf("the store's error was logged %d times, want once", rep.Logged)
	}
}

// checkStore checks that the receiver refused with the store's reason and
// delivered everything it took.
func checkStore(t *testing.T, f chaos.Figures, rep chaos.StoreReport, reason string) {
	t.Helper()
	t.Logf("taken %d, refused %d with %s; took posts again %s after the disk recovered", rep.Taken, rep.Refused, rep.Refusal, rep.Recovered)
	if !strings.Contains(rep.Refusal, reason) {
		t.Errorf("refusal %s does not give the reason %q", rep.Refusal, reason)
	}
	checkDelivered(t, f)
	for kind, n := range f.Duplicates {
		if n > 0 {
			t.Errorf("%s got %d duplicate messages", kind, n)
		}
	}
}

func testReplicas(t *testing.T, bin string) {
	plan := size(
		chaos.ReplicasPlan{Alerts: 600, Over: 40 * time.Second, Names: 4, Jobs: 3, TimeScale: 1.0 / 60, Wait: 3 * time.Minute,
			TakeoverAfter: 5 * time.Second, KillAt: 5 * time.Second, Down: 12 * time.Second, PauseAt: 20 * time.Second, Pause: 8 * time.Second,
			StoreAt: 31 * time.Second, AlertmanagerAt: 35 * time.Second, Paged: 2, Levels: 7, LevelEvery: 6 * time.Second},
		chaos.ReplicasPlan{Alerts: 5000, Over: 2 * time.Minute, Names: 5, Jobs: 8, TimeScale: 1.0 / 30, Wait: 8 * time.Minute,
			TakeoverAfter: 5 * time.Second, KillAt: 20 * time.Second, Down: 20 * time.Second, PauseAt: 50 * time.Second, Pause: 12 * time.Second,
			StoreAt: 80 * time.Second, AlertmanagerAt: 100 * time.Second, Paged: 3, Levels: 12, LevelEvery: 10 * time.Second},
	)
	f, rep := chaos.Replicas(t, bin, plan)
	record(t, f)
	t.Log(rep.Timeline())
	t.Logf("takeovers: %s", rep.TakeoverLog)
	for _, tk := range rep.Takeovers {
		t.Logf("%s with %d leases held: %d deliveries taken over, the first after %s, the last after %s (takeover_after %s)",
			tk.Fault, tk.Leased, tk.Count, tk.First, tk.Last, plan.TakeoverAfter)
	}
	// A stopped replica keeps its connections, and PostgreSQL the locks
	// of the transactions it was in: none may hold up the others.
	for _, s := range rep.Stalled {
		t.Errorf("while %s was stopped, another waited for a lock of a transaction idle for longer than takeover_after (%s): %s", rep.Paused, plan.TakeoverAfter, s)
	}
	t.Logf("posts the balancer passed to each replica: %v; messages each sent: %v; leases %s lost when it woke: %d; PostgreSQL down %s",
		rep.Balanced, rep.SentBy, rep.Paused, rep.LeasesLost, rep.StoreUp.Sub(rep.StoreDown).Round(time.Millisecond))
	checkDelivered(t, f)
	if n := f.RateLimitedTotal(); n > 0 {
		t.Errorf("the fakes answered 429 for their rate limits %d times (%v): the replicas together exceeded them", n, f.RateLimited)
	}
	for route, levels := range rep.Pages {
		for l, n := range levels {
			if n != 1 {
				t.Errorf("%s: level %d was paged %d times, want once", route, l+1, n)
			}
		}
	}
	checkReplicaDuplicates(t, f, rep)
}

// checkReplicaDuplicates sorts the duplicates by the fault that explains
// them and fails t for any that none explains: a send under way when its
// replica was killed, or when it was stopped (sent again by the replica
// that took it over, or by the stopped one as it woke), or while
// PostgreSQL restarted (its outcome could not be recorded). Each repeat
// after a kill or a stop is a delivery taken over, so there are no more
// of them than takeovers.
func checkReplicaDuplicates(t *testing.T, f chaos.Figures, rep chaos.ReplicasReport) {
	t.Helper()
	byFault := map[string]int{}
	for _, d := range f.Twice {
		cause := duplicateCause(d, rep)
		byFault[cause]++
		if cause == "" {
			t.Errorf("%s got a state twice that no fault explains: first from %s sent %s, again from %s sent %s",
				d.First.Kind, d.First.From, d.First.Sent.Format(time.StampMilli), d.Again.From, d.Again.Sent.Format(time.StampMilli))
		}
	}
	t.Logf("duplicates by kind: %v; by the fault that explains them: %v", f.Duplicates, byFault)
	for i, cause := range []string{"kill", "pause"} {
		if taken := rep.Takeovers[i].Count; byFault[cause] > taken {
			t.Errorf("%d duplicates after the %s, more than the %d deliveries taken over", byFault[cause], cause, taken)
		}
	}
}

// duplicateCause names the fault that explains a duplicate, or "": its
// first copy was under way at the fault, sent at most a takeover_after
// before it (the longest a claim is held without renewal) and before the
// replica ran again. A killed or a stopped process writes nothing, so
// what reached an upstream's proxy from it meanwhile had been written
// before the fault (the proxy may read it a moment later).
func duplicateCause(d chaos.Twice, rep chaos.ReplicasReport) string {
	during := func(from, to time.Time) bool {
		return !d.First.Sent.Before(from.Add(-rep.TakeoverAfter)) && d.First.Sent.Before(to)
	}
	switch {
	case d.First.From == rep.Killed && during(rep.Kill, rep.Restart):
		return "kill"
	case (d.First.From == rep.Paused || d.Again.From == rep.Paused) && during(rep.Pause, rep.Resume):
		return "pause"
	case during(rep.StoreDown, rep.StoreUp):
		return "store restart"
	}
	return ""
}

package chaos_test

import (
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/chaos"
)

func init() {
	scenarios = append(scenarios, scenario{"full disk", testFullDisk}, scenario{"read-only", testReadOnly},
		scenario{"read-only after a stop", testReadOnlyAfterStop})
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

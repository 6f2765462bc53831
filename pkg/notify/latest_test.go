package notify

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLatest: of an incident's waiting notifications, the latest trigger
// of each stretch before a resolve goes, then the resolve; escalate and
// acknowledged ones are superseded unless nothing else waits.
func TestLatest(t *testing.T) {
	for _, tc := range []struct {
		kinds string // t trigger, r resolve, e escalate, a acknowledged
		want  []int
	}{
		{"t", []int{0}},
		{"r", []int{0}},
		{"tttt", []int{3}},
		{"tttr", []int{2, 3}},
		{"rttt", []int{0, 3}},
		{"ttrtt", []int{1, 2, 4}},
		{"trtr", []int{0, 1, 2, 3}},
		{"rr", []int{0, 1}},
		{"tte", []int{1}},
		{"tetae", []int{2}},
		{"etr", []int{1, 2}},
		{"ee", []int{1}},
		{"ea", []int{1}},
		{"", nil},
	} {
		var ns []*Notification
		for _, k := range tc.kinds {
			kind := map[rune]Kind{'t': KindTrigger, 'r': KindResolve, 'e': KindEscalate, 'a': KindAcknowledged}[k]
			ns = append(ns, &Notification{Kind: kind})
		}
		if diff := cmp.Diff(tc.want, Latest(ns)); diff != "" {
			t.Errorf("Latest(%s) (-want +got):\n%s", strings.ToUpper(tc.kinds), diff)
		}
	}
}

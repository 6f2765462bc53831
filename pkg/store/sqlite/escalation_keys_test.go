package sqlite_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// TestEscalationKeys: the keys that start with a prefix, in order, up to
// the limit; a prefix ending in f or 9 stops at the next digit.
func TestEscalationKeys(t *testing.T) {
	s := open(t, "", sqlite.Options{Now: testkit.NewClock(t0).Now})
	keys := []string{"3f9a00", "3f9a1c2e00", "3f9a1c2e7f", "3f9a1c2f00", "3f9b00", "3fa000", "4000"}
	for _, k := range keys {
		update(t, s, k, set(&store.EscalationChange{Route: "ops", Policy: "p", State: state(1)}))
	}
	for _, tc := range []struct {
		prefix string
		limit  int
		want   []string
	}{
		{"3f9a1c2e", 10, []string{"3f9a1c2e00", "3f9a1c2e7f"}},
		{"3f9a1c2e", 1, []string{"3f9a1c2e00"}},
		{"3f9a1c2e7f", 10, []string{"3f9a1c2e7f"}},
		{"3f9", 10, []string{"3f9a00", "3f9a1c2e00", "3f9a1c2e7f", "3f9a1c2f00", "3f9b00"}},
		{"3f", 10, []string{"3f9a00", "3f9a1c2e00", "3f9a1c2e7f", "3f9a1c2f00", "3f9b00", "3fa000"}},
		{"3f9a1c2e7f00", 10, nil},
		{"5", 10, nil},
		{"", 3, keys[:3]},
		{"3f", 0, nil},
	} {
		got, err := s.EscalationKeys(context.Background(), tc.prefix, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("EscalationKeys(%q, %d) (-want +got):\n%s", tc.prefix, tc.limit, diff)
		}
	}
}

// TestEscalationKeysUsesIndex: the lookup searches the primary key's
// index rather than scanning the table.
func TestEscalationKeysUsesIndex(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	plan, err := s.EscalationKeysPlan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "SEARCH escalations USING") || strings.Contains(plan, "SCAN") {
		t.Errorf("query plan:\n%s\nwant a SEARCH of the primary key's index and no SCAN", plan)
	}
}

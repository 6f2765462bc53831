package sqlite_test

import (
	"context"
	"strings"
	"testing"

	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

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

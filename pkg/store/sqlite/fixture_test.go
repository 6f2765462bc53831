package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// TestUpgradeFromSchema3File opens testdata/schema3.db, written by the
// migrations before goose (schema_version 3; the test that wrote it is in
// the commit that added the file): its data is all there, and its schema
// is that of a database goose creates.
func TestUpgradeFromSchema3File(t *testing.T) {
	data, err := os.ReadFile("testdata/schema3.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "klaxon.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, sqlite.Options{Now: testkit.NewClock(t0).Now})
	ctx := context.Background()

	dead, err := s.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pager/inc2/" + payload("inc2", "h1")}, ids(dead)); diff != "" {
		t.Errorf("dead letters (-want +got):\n%s", diff)
	}
	retry := claim(t, s, t0.Add(time.Minute), 10)
	if len(retry) != 1 || retry[0].Channel != "chat" || retry[0].Attempts != 1 || retry[0].LastError != "upstream answered 503" {
		t.Errorf("pending: %+v, want chat's delivery of inc1 after one failed attempt", retry)
	}
	if res := mustIngest(t, s, newIngest("inc1", "h1", t0.Add(time.Hour), "pager")); !res.Duplicate {
		t.Error("inc1's recorded state not recognised")
	}
	want := []store.Escalation{{IncidentKey: "inc1", Route: "ops", Policy: "p", State: state(1),
		NextAt: t0.Add(5 * time.Minute), UpdatedAt: t0, Payload: []byte(payload("inc1", "h1"))}}
	if diff := cmp.Diff(want, openEscalations(t, s)); diff != "" {
		t.Errorf("escalations (-want +got):\n%s", diff)
	}
	if first, err := s.UseNonce(ctx, "n1", t0.Add(time.Hour)); err != nil || first {
		t.Errorf("nonce used before the upgrade: first use %v, %v", first, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	fresh := filepath.Join(t.TempDir(), "klaxon.db")
	if err := open(t, fresh, sqlite.Options{}).Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(schemaOf(t, fresh), schemaOf(t, path)); diff != "" {
		t.Errorf("schema of the upgraded file (-fresh +upgraded):\n%s", diff)
	}
}

// schemaOf returns the statements that create the file's tables and
// indexes, but for SQLite's own.
func schemaOf(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(`SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, text string
		if err := rows.Scan(&name, &text); err != nil {
			t.Fatal(err)
		}
		out[name] = text
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// TestWriteSchema3Fixture writes testdata/schema3.db with the schema
// migrations of this commit (schema_version 3), for the test that opens
// it with later ones.
func TestWriteSchema3Fixture(t *testing.T) {
	if os.Getenv("KLAXON_WRITE_FIXTURE") == "" {
		t.Skip("set KLAXON_WRITE_FIXTURE=1 to write testdata/schema3.db")
	}
	path := filepath.Join(t.TempDir(), "klaxon.db")
	s := open(t, path, sqlite.Options{Now: testkit.NewClock(t0).Now})
	ctx := context.Background()
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager", "chat"))
	mustIngest(t, s, newIngest("inc2", "h1", t0.Add(time.Second), "pager"))
	ds := claim(t, s, t0.Add(time.Second), 10)
	if err := s.Complete(ctx, ds[0].ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Reschedule(ctx, ds[1].ID, t0.Add(time.Minute), "upstream answered 503"); err != nil {
		t.Fatal(err)
	}
	if err := s.Bury(ctx, ds[2].ID, "rejected"); err != nil {
		t.Fatal(err)
	}
	update(t, s, "inc1", set(&store.EscalationChange{Policy: "p", State: state(1), NextAt: t0.Add(5 * time.Minute)}))
	if _, err := s.UseNonce(ctx, "n1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/schema3.db", data, 0o644); err != nil {
		t.Fatal(err)
	}
}

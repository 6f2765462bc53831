package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// TestFullDisk fills the database up to max_page_count, as a full disk
// would stop it: Ingest fails with ErrUnavailable and SQLite's reason, what
// was committed stays, and once there is room Ingest works again on the
// same Store.
func TestFullDisk(t *testing.T) {
	s := open(t, "", sqlite.Options{MaxPageCount: 40})
	ctx := context.Background()
	big := strings.Repeat("x", 8<<10)
	var stored int
	var err error
	for i := range 100 {
		in := newIngest(fmt.Sprintf("inc%03d", i), "h", t0, "pager")
		in.Payload = []byte(big)
		if _, err = s.Ingest(ctx, in); err != nil {
			break
		}
		stored++
	}
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "database or disk is full") {
		t.Fatalf("ingest into a full database: %v, want ErrUnavailable saying it is full", err)
	}
	if stored == 0 {
		t.Fatal("nothing fitted before the database was full")
	}
	// A new connection (the failed one was discarded) is as full.
	in := newIngest("more", "h", t0, "pager")
	in.Payload = []byte(big)
	if _, err := s.Ingest(ctx, in); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("second ingest into a full database: %v, want ErrUnavailable", err)
	}

	if err := s.ExecWriter(ctx, "PRAGMA max_page_count = 100000"); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, s, newIngest("after", "h", t0, "pager"))
	got := claim(t, s, t0, 1000)
	if len(got) != stored+1 {
		t.Fatalf("%d deliveries pending after the disk recovered, want %d (the %d stored before, and the new one)", len(got), stored+1, stored)
	}
}

// TestReadOnly makes the database read-only under a running Store. An
// ordinary user takes the write permission off the data directory and file
// and has the writer connection reopened; root ignores permissions, so
// there query_only fails writes with SQLITE_READONLY just the same.
func TestReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "klaxon.db")
	s := open(t, path, sqlite.Options{})
	ctx := context.Background()
	mustIngest(t, s, newIngest("before", "h", t0, "pager"))

	restore := makeReadOnly(t, s, dir, path)
	_, err := s.Ingest(ctx, newIngest("while", "h", t0, "pager"))
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("ingest into a read-only database: %v, want ErrUnavailable saying it is read-only", err)
	}
	restore()

	// The Store discarded the failed connection and opens a writable one.
	mustIngest(t, s, newIngest("after", "h", t0, "pager"))
	if diff := cmp.Diff([]string{"pager/before", "pager/after"}, keys(claim(t, s, t0, 10))); diff != "" {
		t.Fatalf("pending after recovery (-want +got):\n%s", diff)
	}
}

func makeReadOnly(t *testing.T, s *sqlite.Store, dir, path string) (restore func()) {
	t.Helper()
	ctx := context.Background()
	if os.Geteuid() == 0 {
		if err := s.ExecWriter(ctx, "PRAGMA query_only = 1"); err != nil {
			t.Fatal(err)
		}
		return func() {}
	}
	for _, p := range []struct {
		name string
		mode os.FileMode
	}{{path, 0o400}, {path + "-wal", 0o400}, {path + "-shm", 0o400}, {dir, 0o500}} {
		if err := os.Chmod(p.name, p.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DiscardWriter(ctx); err != nil {
		t.Fatal(err)
	}
	return func() {
		for _, p := range []string{dir, path, path + "-wal", path + "-shm"} {
			if err := os.Chmod(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
}

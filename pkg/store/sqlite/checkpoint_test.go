package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// TestWriterNeverCheckpoints checks that the writer connection leaves
// checkpoints to the checkpointer, also once a new connection replaced it.
func TestWriterNeverCheckpoints(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	ctx := context.Background()
	for _, when := range []string{"at first", "after the connection was replaced"} {
		got, err := s.WriterPragma(ctx, "wal_autocheckpoint")
		if err != nil {
			t.Fatal(err)
		}
		if got != 0 {
			t.Errorf("%s: the writer's wal_autocheckpoint is %d, want 0", when, got)
		}
		if err := s.DiscardWriter(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckpointerBoundsTheWAL writes many times WALSizeLimit: without the
// checkpointer the WAL would hold all of it, since the writer never
// checkpoints. With it, the WAL starts afresh and SQLite truncates it to
// the limit. The interval is too long to play a part: the committer's
// count of what it wrote wakes the checkpointer.
func TestCheckpointerBoundsTheWAL(t *testing.T) {
	const limit = 256 << 10
	path := filepath.Join(t.TempDir(), "klaxon.db")
	s := open(t, path, sqlite.Options{WALSizeLimit: limit, CheckpointInterval: time.Hour})
	big := strings.Repeat("x", 16<<10)
	for i := range 200 {
		in := newIngest(fmt.Sprintf("inc%03d", i), "h", t0, "pager")
		in.Payload = []byte(big)
		mustIngest(t, s, in)
	}
	// SQLite truncates the WAL at the first commit after it started afresh.
	i := 0
	testenv.Eventually(t, 30*time.Second, func() error {
		i++
		mustIngest(t, s, newIngest(fmt.Sprintf("more%03d", i), "h", t0))
		size := fileSize(t, path+"-wal")
		if size > limit {
			return fmt.Errorf("the WAL holds %d bytes, over the limit of %d", size, limit)
		}
		return nil
	})
	if got := len(claim(t, s, t0, 1000)); got != 200 {
		t.Fatalf("%d deliveries pending, want 200", got)
	}
}

// TestCheckpointerRunsOnItsInterval writes too little to wake the
// checkpointer early: the interval alone brings the notifications into the
// database file.
func TestCheckpointerRunsOnItsInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	s := open(t, path, sqlite.Options{CheckpointInterval: 10 * time.Millisecond})
	const size = 256 << 10
	in := newIngest("inc", "h", t0, "pager")
	in.Payload = []byte(strings.Repeat("x", size))
	mustIngest(t, s, in)
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := fileSize(t, path); got < size {
			return fmt.Errorf("the database file holds %d bytes, want the %d of the payload", got, size)
		}
		return nil
	})
}

// TestStatementsFollowANewConnection replaces the writer connection between
// ingests: the statements prepared on the old one are prepared anew on the
// new one, and still tell a repeat from a change.
func TestStatementsFollowANewConnection(t *testing.T) {
	s := open(t, "", sqlite.Options{})
	ctx := context.Background()
	mustIngest(t, s, newIngest("a", "h1", t0, "pager"))
	var got []bool
	for _, in := range []struct{ key, hash string }{{"a", "h1"}, {"a", "h2"}, {"b", "h1"}} {
		if err := s.DiscardWriter(ctx); err != nil {
			t.Fatal(err)
		}
		got = append(got, mustIngest(t, s, newIngest(in.key, in.hash, t0, "pager")).Duplicate)
	}
	if diff := cmp.Diff([]bool{true, false, false}, got); diff != "" {
		t.Errorf("duplicates after new connections (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"pager/a", "pager/b"}, keys(claim(t, s, t0, 10))); diff != "" {
		t.Errorf("claimed (-want +got):\n%s", diff)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

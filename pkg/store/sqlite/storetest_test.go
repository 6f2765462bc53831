package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

// TestConformance runs the store drivers' suite, each test on a file of
// its own.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Database {
		return database(filepath.Join(t.TempDir(), "data", "klaxon.db"))
	})
}

// database is the file at its path.
type database string

func (d database) Open(t *testing.T, opts storetest.Options) storetest.Store {
	return open(t, string(d), sqlite.Options{Now: opts.Now, Retention: opts.Retention})
}

func (d database) Prune(t *testing.T, s storetest.Store) {
	t.Helper()
	if err := s.(*sqlite.Store).Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (d database) Rows(t *testing.T) storetest.Rows { return countRows(t, string(d)) }

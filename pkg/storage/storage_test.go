package storage_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/storage"
)

// TestOpenSQLite: without postgres, the store is the SQLite file at path.
func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "klaxon.db")
	st, err := storage.Open(t.Context(), receiverconfig.Storage{Path: path}, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the SQLite file: %v", err)
	}
	if stats, err := st.Stats(t.Context()); err != nil || len(stats) != 0 {
		t.Errorf("a new store's stats: %v, %v; want none", stats, err)
	}
}

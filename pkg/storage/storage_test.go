package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	commoncfg "github.com/prometheus/common/config"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/storage"
	"github.com/klaxonhq/klaxon/pkg/store"
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

// TestOpenPostgres: with postgres, the store is the database its DSN
// names, read from dsn_file here, with the schema migrated; path is not
// used.
func TestOpenPostgres(t *testing.T) {
	dsn := testenv.PostgresDatabase(t)
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "data", "klaxon.db")
	cfg := receiverconfig.Storage{Path: path, Postgres: &receiverconfig.Postgres{DSNFile: dsnFile, MaxConns: 2}}
	st, err := storage.Open(t.Context(), cfg, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in := &store.Ingest{IncidentKey: "inc1", StateHash: "h1", Status: "firing", Kind: "trigger",
		Payload: []byte(`{}`), Channels: []string{"pager"}, ReceivedAt: time.Now()}
	if _, err := st.Ingest(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if stats, err := st.Stats(t.Context()); err != nil || len(stats) != 1 || stats[0].Pending != 1 {
		t.Errorf("stats: %+v, %v; want one pending delivery", stats, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the SQLite file: %v; want none", err)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&n); err != nil || n != 1 {
		t.Errorf("outbox rows in the database: %d, %v; want 1", n, err)
	}
}

// TestOpenPostgresFails: the error names the config section and keeps the
// DSN's password out.
func TestOpenPostgresFails(t *testing.T) {
	cfg := receiverconfig.Storage{Postgres: &receiverconfig.Postgres{
		DSN: commoncfg.Secret("postgres://klaxon:s3cret@" + testenv.SilentListener(t) + "/klaxon?connect_timeout=1"), MaxConns: 1}}
	_, err := storage.Open(t.Context(), cfg, storage.Options{})
	if !errors.Is(err, store.ErrUnavailable) || !strings.HasPrefix(err.Error(), "storage.postgres: ") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("opening an unreachable PostgreSQL: %v; want storage.postgres's ErrUnavailable without the password", err)
	}
}

package postgres_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the SQLite schema's reader

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// TestSchemaMatchesSQLite: the PostgreSQL schema has the tables and
// columns of SQLite's, so that a migration added to one driver and not
// the other is caught. channel_pace is PostgreSQL's alone: a receiver
// alone on its SQLite file paces its sends in memory.
func TestSchemaMatchesSQLite(t *testing.T) {
	dsn := testenv.PostgresDatabase(t)
	open(t, dsn, postgres.Options{}).Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name NOT IN ('goose_db_version', 'channel_pace')`)
	if err != nil {
		t.Fatal(err)
	}
	pg := map[string]map[string]bool{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		add(pg, table, column)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	if diff := cmp.Diff(sqliteColumns(t), pg); diff != "" {
		t.Fatalf("tables and columns (-SQLite +PostgreSQL):\n%s", diff)
	}
}

func sqliteColumns(t *testing.T) map[string]map[string]bool {
	t.Helper()
	path := filepath.Join(t.TempDir(), "klaxon.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT m.name, c.name FROM sqlite_master AS m, pragma_table_info(m.name) AS c
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'goose_db_version'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		add(out, table, column)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func add(m map[string]map[string]bool, table, column string) {
	if m[table] == nil {
		m[table] = map[string]bool{}
	}
	m[table][column] = true
}

// TestPayloadsCompressWithLZ4: a payload large enough to be compressed is
// compressed with lz4, on a server that has it.
func TestPayloadsCompressWithLZ4(t *testing.T) {
	dsn := testenv.PostgresDatabase(t)
	s := open(t, dsn, postgres.Options{})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var lz4 bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))`).Scan(&lz4); err != nil {
		t.Fatal(err)
	}
	if !lz4 {
		t.Skip("the test PostgreSQL has no lz4")
	}
	in := newIngest("inc1", "h1", t0)
	in.Payload = []byte(`{"alerts":"` + strings.Repeat("firing ", 1000) + `"}`)
	mustIngest(t, s, in)
	var method string
	if err := conn.QueryRow(ctx, `SELECT pg_column_compression(payload) FROM notifications`).Scan(&method); err != nil {
		t.Fatal(err)
	}
	if method != "lz4" {
		t.Fatalf("payload compressed with %q, want lz4", method)
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// Schema migrations are the files migrations/NNNN_name.sql, applied in
// order, each in the transaction that records its number in
// schema_version. To change the schema, add the next number with the
// statements that take the previous schema to the new one (ALTER TABLE,
// CREATE INDEX, copying data); never edit a file that has been released,
// since databases in the field have already applied it. A database whose
// version is higher than the last file is refused: it was written by a
// newer klaxon-receiver, and this one would misread it.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads the embedded files, which must be numbered 1, 2, ...
// without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for i, name := range names {
		base := path.Base(name)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %04d", base, i+1)
		}
		text, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(text)})
	}
	return out, nil
}

// migrate brings the database's schema up to date in one transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("starting the schema migration", err)
	}
	defer tx.Rollback() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL DEFAULT 0
	)`); err != nil {
		return unavailable("creating schema_version", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return unavailable("reading the schema version", err)
	}
	if current > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this klaxon-receiver knows (%d): run a newer release", current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return unavailable("applying migration "+m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`, m.version, nanos(time.Now())); err != nil {
			return unavailable("recording migration "+m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable("committing the schema migration", err)
	}
	return nil
}

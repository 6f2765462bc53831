package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/klaxonhq/klaxon/pkg/store/schema"
)

// The schema migrations are the files migrations/NNNN_name.sql, applied by
// package schema (goose); see there how to change the schema.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// legacyTable and legacyLast are the version table of the databases
// written before goose, and the last version those knew: their schema is
// that of migrations 1 to legacyLast.
const (
	legacyTable = "schema_version"
	legacyLast  = 3
)

// migrate brings the database's schema up to date.
func migrate(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	if err := adoptLegacy(ctx, db); err != nil {
		return err
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	return schema.Migrate(ctx, db, goose.DialectSQLite3, sub, schema.Options{Logger: logger})
}

// adoptLegacy hands a database written before goose over to it, in one
// transaction: the versions its schema_version table records are recorded
// in goose's table, and schema_version is dropped, so that a release
// before goose refuses the database rather than misreading a later schema.
// The tables of the data are left as they are. A database without
// schema_version is left alone.
func adoptLegacy(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("starting the schema adoption", err)
	}
	defer tx.Rollback() // a no-op after Commit
	var legacy int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, legacyTable).Scan(&legacy); err != nil {
		return unavailable("looking for "+legacyTable, err)
	}
	if legacy == 0 {
		return nil
	}
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM `+legacyTable).Scan(&current); err != nil {
		return unavailable("reading the schema version", err)
	}
	if err := schema.CheckVersion(current, legacyLast); err != nil {
		return err
	}
	if err := recordVersions(ctx, tx, current); err != nil {
		return unavailable("recording the schema version for goose", err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE `+legacyTable); err != nil {
		return unavailable("dropping "+legacyTable, err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable("committing the schema adoption", err)
	}
	return nil
}

// recordVersions creates goose's version table and records versions 0 (as
// goose does for a new table) to last applied.
func recordVersions(ctx context.Context, tx *sql.Tx, last int64) error {
	versions, err := database.NewStore(goose.DialectSQLite3, schema.Table)
	if err != nil {
		return err
	}
	if err := versions.CreateVersionTable(ctx, tx); err != nil {
		return err
	}
	for v := range last + 1 {
		if err := versions.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return fmt.Errorf("version %d: %w", v, err)
		}
	}
	return nil
}

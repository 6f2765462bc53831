// Package schema brings a store driver's database schema up to date with
// goose (github.com/pressly/goose/v3), the one migration mechanism of
// every driver. A driver embeds its migrations as files NNNN_name.sql,
// each starting with "-- +goose Up", numbered 1, 2, ... and hands them to
// Migrate with its goose dialect. goose records the applied versions in
// the table goose_db_version and applies each migration in its own
// transaction with its version.
//
// To change a schema, add the next number with the statements that take
// the previous schema to the new one (ALTER TABLE, CREATE INDEX, copying
// data); never edit a file that has been released, since databases in the
// field have already applied it.
package schema

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// Table is where goose records the applied versions.
const Table = goose.DefaultTablename

// Options are a driver's choices for Migrate.
type Options struct {
	// Logger hears of each migration applied; nil logs nothing.
	Logger *slog.Logger
	// Locker, if set, holds a lock on the database while migrations run,
	// so that several processes starting together migrate it once (a
	// PostgreSQL advisory lock, say).
	Locker lock.SessionLocker
}

// Migrate applies the migrations of fsys that db has not applied yet, in
// order. A database whose version is higher than the last migration is
// refused: it was written by a newer klaxon-receiver, and this one would
// misread it. Other failures wrap store.ErrUnavailable.
func Migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, fsys fs.FS, opts Options) error {
	p, err := goose.NewProvider(dialect, db, fsys, providerOptions(opts)...)
	if err != nil {
		return fmt.Errorf("reading the schema migrations: %w", err)
	}
	current, last, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w: %w", store.ErrUnavailable, err)
	}
	if err := CheckVersion(current, last); err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating the schema: %w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// CheckVersion refuses a database of schema version current when the
// last migration known is last.
func CheckVersion(current, last int64) error {
	if current > last {
		return fmt.Errorf("database schema version %d is newer than this klaxon-receiver knows (%d): run a newer release", current, last)
	}
	return nil
}

func providerOptions(opts Options) []goose.ProviderOption {
	out := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if opts.Logger != nil {
		out = append(out, goose.WithSlog(opts.Logger))
	} else {
		out = append(out, goose.WithLogger(goose.NopLogger()))
	}
	if opts.Locker != nil {
		out = append(out, goose.WithSessionLocker(opts.Locker))
	}
	return out
}

package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/klaxonhq/klaxon/pkg/store/schema"
)

// The schema migrations are the files migrations/NNNN_name.sql, applied by
// package schema (goose); see there how to change the schema.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrateLockRetry is how often a replica tries again for the migration
// lock that another one holds, and migrateLockTries how many times, in
// seconds and times: five minutes, for the slowest migration.
const (
	migrateLockRetry = 1
	migrateLockTries = 300
)

// migrate brings the database's schema up to date, holding goose's
// session-level advisory lock meanwhile, so that replicas starting
// together migrate it once: the others wait, then find it up to date.
func migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(migrateLockRetry, migrateLockTries))
	if err != nil {
		return fmt.Errorf("creating the migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	return schema.Migrate(ctx, db, goose.DialectPostgres, sub, schema.Options{Logger: logger, Locker: locker})
}

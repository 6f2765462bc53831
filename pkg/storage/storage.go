// Package storage opens the store that a receiver's config names: the
// SQLite file of one receiver, or the PostgreSQL database that replicas
// share. It is the one place that knows the drivers.
package storage

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// Store is everything the receiver keeps: notifications, the outbox,
// escalations and nonces.
type Store interface {
	store.Store
	store.Escalations
}

// Options are what every driver takes. The zero value works.
type Options struct {
	// Registerer takes the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Open opens the store cfg names: PostgreSQL when cfg.Postgres is set,
// else the SQLite file at cfg.Path.
func Open(ctx context.Context, cfg receiverconfig.Storage, opts Options) (Store, error) {
	if cfg.Postgres != nil {
		return openPostgres(ctx, cfg, opts)
	}
	return sqlite.Open(ctx, cfg.Path, sqlite.Options{Registerer: opts.Registerer, Logger: opts.Logger})
}

// openPostgres opens cfg's PostgreSQL store. Its transactions may wait
// for their next statement a third of takeover_after: a replica stopped
// inside one must not hold up the others' claims for longer than it
// takes them to take its work over.
func openPostgres(ctx context.Context, cfg receiverconfig.Storage, opts Options) (Store, error) {
	dsn, err := cfg.Postgres.ConnString()
	if err != nil {
		return nil, err
	}
	st, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: cfg.Postgres.MaxConns, IdleTxTimeout: cfg.TakeoverAfter / 3,
		Registerer: opts.Registerer, Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("storage.postgres: %w", err)
	}
	return st, nil
}

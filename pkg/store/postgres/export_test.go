package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Prune deletes what is past the retention at the store's clock's time,
// as one pass of the pruner does.
func (s *Store) Prune(ctx context.Context) error { return s.prune(ctx, s.opts.Now()) }

// Queued is the number of Ingest calls waiting for the committer.
func (s *Store) Queued() int { return s.committer.Queued() }

// LockClass and ClaimLock are the advisory lock that claims take.
const LockClass, ClaimLock = lockClass, claimLock

// Pool is the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// ConnConfig is how the store's pool connects: a stand-in for another
// replica's connection connects the same way.
func (s *Store) ConnConfig() *pgx.ConnConfig { return s.pool.Config().ConnConfig.Copy() }

// IncidentLock is the advisory lock key of an incident.
func IncidentLock(key string) int64 { return incidentLock(key) }

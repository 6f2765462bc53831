package postgres

import "context"

// Prune deletes what is past the retention at the store's clock's time,
// as one pass of the pruner does.
func (s *Store) Prune(ctx context.Context) error { return s.prune(ctx, s.opts.Now()) }

// Queued is the number of Ingest calls waiting for the committer.
func (s *Store) Queued() int { return s.committer.Queued() }

// IncidentLock is the advisory lock key of an incident.
func IncidentLock(key string) int64 { return incidentLock(key) }

package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// pruneChunk is how many rows one pruning statement deletes, so that no
// statement holds many row locks for long.
const pruneChunk = 1000

// pruneLoop is the pruner: every PruneInterval it deletes what is past the
// retention, a chunk at a time. It stops when ctx ends, between or during
// chunks. It skips the rows other transactions hold (SKIP LOCKED), until
// its next pass: it never waits for an Ingest, so the two never
// deadlock, and replicas pruning side by side share the work.
func (s *Store) pruneLoop(ctx context.Context) {
	defer close(s.pruneDone)
	tick := time.NewTicker(s.opts.PruneInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := s.prune(ctx, s.opts.Now()); err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("deleting delivered rows past the retention", "err", err)
		}
	}
}

// pruneSQL deletes, a chunk at a time, delivered rows, the payloads and
// resolved incidents no row refers to, older than @cutoff, and the nonces
// whose links expired by @now. Dead letters, firing incidents and
// incidents under escalation stay, and so do the delivered rows that
// supersede a dead letter, so that Requeue still sees it superseded (see
// supersededSQL), and the payloads escalations refer to.
var pruneSQL = []string{
	`DELETE FROM outbox WHERE id IN (
		SELECT l.id FROM outbox AS l WHERE l.state = 'done' AND l.done_at < @cutoff
			AND NOT EXISTS (SELECT 1 FROM outbox AS d
				WHERE d.state = 'dead' AND d.channel = l.channel AND d.incident_key = l.incident_key AND d.id < l.id)
		LIMIT @chunk FOR UPDATE SKIP LOCKED)`,
	`DELETE FROM notifications WHERE id IN (
		SELECT n.id FROM notifications AS n
		WHERE n.received_at < @cutoff AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.notification_id = n.id)
			AND NOT EXISTS (SELECT 1 FROM escalations AS e WHERE e.notification_id = n.id)
		LIMIT @chunk FOR UPDATE SKIP LOCKED)`,
	`DELETE FROM incidents WHERE incident_key IN (
		SELECT i.incident_key FROM incidents AS i
		WHERE i.status = 'resolved' AND i.updated_at < @cutoff
			AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.incident_key = i.incident_key)
			AND NOT EXISTS (SELECT 1 FROM escalations AS e WHERE e.incident_key = i.incident_key)
		LIMIT @chunk FOR UPDATE SKIP LOCKED)`,
	`DELETE FROM nonces WHERE nonce IN (
		SELECT nonce FROM nonces WHERE until <= @now LIMIT @chunk FOR UPDATE SKIP LOCKED)`,
}

// prune deletes what is past the retention at now.
func (s *Store) prune(ctx context.Context, now time.Time) error {
	args := pgx.NamedArgs{"cutoff": nanos(now.Add(-s.opts.Retention)), "now": nanos(now), "chunk": pruneChunk}
	for _, q := range pruneSQL {
		for {
			n, err := s.exec(ctx, "pruning", q, args)
			if err != nil {
				return err
			}
			if n < pruneChunk {
				break
			}
		}
	}
	return nil
}

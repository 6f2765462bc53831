package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/klaxonhq/klaxon/pkg/store/batch"
)

// checkpointAfterBytes is how much the committer records, in payload bytes
// and rows, before it wakes the checkpointer ahead of its interval: 4 MiB,
// about SQLite's own auto-checkpoint threshold of 1000 pages of 4 KiB.
const checkpointAfterBytes = 4 << 20

// checkpointBusyTimeout is how long a RESTART checkpoint waits for readers
// to leave the WAL, holding writes back meanwhile, before it gives up until
// the next time.
const checkpointBusyTimeout = 100 * time.Millisecond

// rowBytes is what the committer counts for a notification's rows besides
// its payload: the incident, its index entry and the outbox rows.
const rowBytes = 512

// wrote tells the checkpointer about a committed batch, waking it once
// enough was written since the last time.
func (s *Store) wrote(batch []*batch.Call) {
	for _, req := range batch {
		s.walBytes += int64(len(req.In.Payload)) + rowBytes*int64(1+len(req.In.Channels))
	}
	if s.walBytes < min(checkpointAfterBytes, s.opts.WALSizeLimit/4) {
		return
	}
	s.walBytes = 0
	select {
	case s.walKick <- struct{}{}:
	default:
	}
}

// checkpointLoop is the checkpointer: every CheckpointInterval, or sooner
// when the committer wrote much, it copies the WAL into the database file
// on its own connection, so that no commit runs a checkpoint.
func (s *Store) checkpointLoop() {
	defer close(s.checkpointDone)
	tick := time.NewTicker(s.opts.CheckpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		case <-s.walKick:
		}
		if err := s.checkpoint(context.Background()); err != nil {
			s.opts.Logger.Warn("checkpointing the WAL", "err", err)
		}
	}
}

// checkpoint copies the WAL into the database file in two PASSIVE
// checkpoints, which never wait for SQLite's locks. The first copies the
// bulk while commits go on. The second, holding writeMu so that no write
// is under way, copies the little committed meanwhile: then the next commit
// starts the WAL afresh from its beginning, unless a reader still uses it,
// and overwrites the file's blocks rather than appending new ones, which
// makes its fsync cheaper and keeps the file small.
//
// When readers kept the WAL from starting afresh until it outgrew
// WALSizeLimit, a RESTART checkpoint waits for them, for at most
// checkpointBusyTimeout.
func (s *Store) checkpoint(ctx context.Context) error {
	start := time.Now()
	if _, err := s.walCheckpoint(ctx, "PASSIVE"); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	held := time.Now()
	frames, err := s.walCheckpoint(ctx, "PASSIVE")
	if err != nil {
		return err
	}
	s.opts.Logger.Debug("checkpointed the WAL", "frames", frames, "took", time.Since(start), "writes_held_back", time.Since(held))
	if frames*s.pageBytes <= s.opts.WALSizeLimit {
		return nil
	}
	s.opts.Logger.Debug("restarting the WAL", "frames", frames, "limit_bytes", s.opts.WALSizeLimit)
	_, err = s.walCheckpoint(ctx, "RESTART")
	return err
}

// walCheckpoint runs PRAGMA wal_checkpoint in mode on the checkpointer's
// connection and returns how many frames the WAL held.
func (s *Store) walCheckpoint(ctx context.Context, mode string) (frames int64, err error) {
	err = use(ctx, s.checkpointer, "checkpointing", func(c *sql.Conn) error {
		var busy, copied int64
		return c.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
	})
	return frames, err
}

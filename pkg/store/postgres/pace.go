package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// Pace takes channel's next turn at or after now, as store.Turn decides
// from the channel's row, which it holds locked until it has recorded the
// turn: replicas pacing one channel take its turns one after another.
func (s *Store) Pace(ctx context.Context, channel string, now time.Time, p store.Pace) (turn time.Time, ok bool, err error) {
	err = s.inTx(ctx, "pacing the channel", func(tx pgx.Tx) error {
		var tat, held int64
		if err := tx.QueryRow(ctx, `INSERT INTO channel_pace (channel) VALUES ($1)
			ON CONFLICT (channel) DO UPDATE SET channel = excluded.channel
			RETURNING tat, held_until`, channel).Scan(&tat, &held); err != nil {
			return err
		}
		var next time.Time
		turn, ok, next = store.Turn(fromNanos(tat), fromNanos(held), now, p)
		if !ok {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE channel_pace SET tat = $2 WHERE channel = $1`, channel, nanos(next))
		return err
	})
	return turn, ok, err
}

// Hold keeps channel's turns back until until, unless it is held longer
// already.
func (s *Store) Hold(ctx context.Context, channel string, until time.Time) error {
	_, err := s.exec(ctx, "holding the channel", `INSERT INTO channel_pace (channel, held_until) VALUES ($1, $2)
		ON CONFLICT (channel) DO UPDATE SET held_until = greatest(channel_pace.held_until, excluded.held_until)`,
		channel, nanos(until))
	return err
}

// Replicas share a PostgreSQL store: it paces their sends together.
var _ store.Pacer = (*Store)(nil)

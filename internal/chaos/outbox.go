package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // reads the receiver's outbox
)

// Outbox is the state of the receiver's outbox at a moment.
type Outbox struct {
	// Pending counts deliveries not yet made; Leased those of them a
	// worker had taken and not yet recorded an outcome for. A leased
	// delivery whose process dies waits for its lease to expire.
	Pending, Leased int
}

// ReadOutbox reads the outbox of the store at path directly, read-only,
// so that a store whose process was killed keeps its write-ahead log for
// the next start, and a running one is not disturbed.
func ReadOutbox(ctx context.Context, path string, now time.Time) (Outbox, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return Outbox{}, err
	}
	defer db.Close()
	var o Outbox
	err = db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(lease_until > ?), 0) FROM outbox WHERE state = 'pending'`,
		now.UnixNano()).Scan(&o.Pending, &o.Leased)
	if err != nil {
		return o, fmt.Errorf("reading the outbox of %s: %w", path, err)
	}
	return o, nil
}

package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

// TestClaimBesideAHungClaim: a replica stopped (SIGSTOP, a frozen VM)
// in the middle of a claim keeps its connection open, so PostgreSQL
// keeps the claim's transaction and its shared claim lock for as long as
// the replica is stopped. A digest's ClaimAlong on another replica then
// queues for the lock exclusively, and every later Claim queues behind
// it: no replica claims anything until the stopped one wakes, and the
// stopped one's deliveries are not taken over. Here the stopped replica
// is a connection that took the claim lock as Claim does and does
// nothing more; the other replica must still claim its due deliveries
// within storage.takeover_after's minimum. It does because PostgreSQL
// ends a store transaction that waits for its next statement longer than
// IdleTxTimeout (idle_in_transaction_session_timeout), which every
// replica's connections set.
//
// internal/chaos's replicas scenario found this: the store's sessions,
// read while a replica was stopped, showed its claim idle in
// transaction and the other replicas' claims waiting for the lock.
func TestClaimBesideAHungClaim(t *testing.T) {
	dsn := testenv.PostgresDatabase(t)
	s := open(t, dsn, postgres.Options{IdleTxTimeout: time.Second})
	ctx := context.Background()
	mustIngest(t, s, newIngest("one", "h", t0, "pager", "chat"))
	mustIngest(t, s, newIngest("two", "h", t0, "pager"))
	held, err := s.Claim(ctx, t0, storetest.Lease, 1)
	if err != nil || len(held) != 1 {
		t.Fatalf("claiming the digest's first delivery: %v %v", held, err)
	}

	hung, err := pgx.ConnectConfig(ctx, s.ConnConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close(ctx)
	tx, err := hung.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1, $2)`, postgres.LockClass, postgres.ClaimLock); err != nil {
		t.Fatal(err)
	}

	var along sync.WaitGroup
	along.Go(func() { _, _ = s.ClaimAlong(ctx, held[0], t0, storetest.Lease, 10) })
	defer along.Wait()
	defer func() { _ = tx.Rollback(ctx) }()
	testenv.Eventually(t, time.Minute, func() error {
		var waiting int
		err := hung.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&waiting)
		if err == nil && waiting == 0 {
			err = errors.New("the digest's ClaimAlong is not waiting for the claim lock yet")
		}
		return err
	})

	// The shortest storage.takeover_after: a replica's work is to be
	// taken over after it, so no claim may wait longer for a hung one.
	within, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	got, err := s.Claim(within, t0, storetest.Lease, 10)
	if err != nil {
		t.Fatalf("a claim beside a replica hung in its claim: %v, want the due deliveries", err)
	}
	if len(got) == 0 {
		t.Errorf("a claim beside a replica hung in its claim got nothing, want the due deliveries")
	}
}

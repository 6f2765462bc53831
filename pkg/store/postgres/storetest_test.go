package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

// TestConformance runs the store drivers' suite, each test on a database
// of its own on the test PostgreSQL.
func TestConformance(t *testing.T) {
	admin := testenv.PostgresDSN(t)
	storetest.Run(t, func(t *testing.T) storetest.Database {
		return database(testenv.CreateDatabase(t, admin))
	})
}

// TestPacer runs the suite of the stores that replicas share: pacing
// each channel across them.
func TestPacer(t *testing.T) {
	admin := testenv.PostgresDSN(t)
	storetest.RunPacer(t, func(t *testing.T) storetest.Database {
		return database(testenv.CreateDatabase(t, admin))
	})
}

// database is the DSN of a test's database.
type database string

func (d database) Open(t *testing.T, opts storetest.Options) storetest.Store {
	return open(t, string(d), postgres.Options{Now: opts.Now, Retention: opts.Retention})
}

func (d database) Prune(t *testing.T, s storetest.Store) {
	t.Helper()
	if err := s.(*postgres.Store).Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (d database) Rows(t *testing.T) storetest.Rows {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, string(d))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n storetest.Rows
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM notifications),
		(SELECT count(*) FROM incidents), (SELECT count(*) FROM nonces)`).Scan(&n.Outbox, &n.Payloads, &n.Incidents, &n.Nonces)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT last_error FROM outbox WHERE state = 'done' AND last_error <> '' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	if n.Notes, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(n.Notes) == 0 {
		n.Notes = nil
	}
	return n
}

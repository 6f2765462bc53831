package postgres_test

import (
	"context"
	"testing"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

// The suite's helpers, for the driver's own tests.
var (
	t0         = storetest.T0
	newIngest  = storetest.NewIngest
	mustIngest = storetest.MustIngest
	claim      = storetest.Claim
	keys       = storetest.Keys
)

// open opens a store on the database of dsn, a new one on the test
// PostgreSQL if dsn is "", and closes it when the test ends.
func open(t testing.TB, dsn string, opts postgres.Options) *postgres.Store {
	t.Helper()
	if dsn == "" {
		dsn = testenv.PostgresDatabase(t)
	}
	opts.Logger = promslog.NewNopLogger()
	s, err := postgres.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

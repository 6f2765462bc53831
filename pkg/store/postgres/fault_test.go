package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

// TestServerDownAndBack stops the store's PostgreSQL under it: Ingest and
// Claim fail with store.ErrUnavailable and say so, and once the server is
// back the same Store works again, with nothing it accepted before lost.
func TestServerDownAndBack(t *testing.T) {
	pg := testenv.StartPrivatePostgres(t)
	s := open(t, pg.DSN, postgres.Options{})
	ctx := context.Background()
	mustIngest(t, s, newIngest("before1", "h", t0, "pager"))
	mustIngest(t, s, newIngest("before2", "h", t0, "pager", "chat"))

	pg.Stop(t)
	_, err := s.Ingest(ctx, newIngest("while", "h", t0, "pager"))
	assertUnavailable(t, "ingest", err, "recording notification: store unavailable: ")
	_, err = s.Claim(ctx, t0, storetest.Lease, 10)
	assertUnavailable(t, "claim", err, "claiming deliveries: store unavailable: ")

	pg.Start(t)
	mustIngest(t, s, newIngest("after", "h", t0, "pager"))
	want := []string{"pager/before1", "pager/before2", "chat/before2", "pager/after"}
	if diff := cmp.Diff(want, keys(claim(t, s, t0, 10))); diff != "" {
		t.Fatalf("pending after the server came back (-want +got):\n%s", diff)
	}
}

// TestOpenServerDown: a store cannot open while its server is down, and
// says why.
func TestOpenServerDown(t *testing.T) {
	pg := testenv.StartPrivatePostgres(t)
	pg.Stop(t)
	_, err := postgres.Open(context.Background(), pg.DSN, postgres.Options{})
	assertUnavailable(t, "open", err, "reading the schema version: store unavailable: ")
}

func assertUnavailable(t *testing.T, what string, err error, prefix string) {
	t.Helper()
	if !errors.Is(err, store.ErrUnavailable) || !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("%s while the server is down: %v, want store.ErrUnavailable, %q", what, err, prefix)
	}
	t.Logf("%s while the server is down: %v", what, err)
}

package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

// The suite's helpers, for the SQLite driver's own tests.
var (
	t0              = storetest.T0
	newIngest       = storetest.NewIngest
	payload         = storetest.Payload
	mustIngest      = storetest.MustIngest
	claim           = storetest.Claim
	ids             = storetest.IDs
	keys            = storetest.Keys
	state           = storetest.State
	set             = storetest.Set
	update          = storetest.Update
	openEscalations = storetest.OpenEscalations
)

func open(t testing.TB, path string, opts sqlite.Options) *sqlite.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "data", "klaxon.db")
	}
	opts.Logger = promslog.NewNopLogger()
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestUpgradeFromSchema1: a file written before requeued_at existed opens,
// its dead letters read as never requeued, and requeueing them records when.
func TestUpgradeFromSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	init1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT 0)`,
		string(init1),
		`INSERT INTO schema_version (version) VALUES (1)`,
		`INSERT INTO notifications (incident_key, received_at, payload) VALUES ('inc1', 0, '{}')`,
		`INSERT INTO outbox (channel, route, incident_key, kind, notification_id, created_at, next_attempt_at, attempts, last_error, state)
			VALUES ('pager', 'ops', 'inc1', 'trigger', 1, 0, 0, 1, 'rejected', 'dead')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	s := open(t, path, sqlite.Options{})
	ctx := context.Background()
	dead, err := s.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Delivery{{ID: 1, Channel: "pager", Route: "ops", IncidentKey: "inc1", Kind: "trigger",
		Payload: []byte("{}"), Attempts: 1, LastError: "rejected"}}
	if diff := cmp.Diff(want, dead); diff != "" {
		t.Fatalf("dead letters after the upgrade (-want +got):\n%s", diff)
	}
	if _, err := s.Requeue(ctx, t0); err != nil {
		t.Fatal(err)
	}
	want[0].RequeuedAt, want[0].NextAttempt, want[0].Claim = t0, t0, 1
	if diff := cmp.Diff(want, claim(t, s, t0, 10)); diff != "" {
		t.Fatalf("requeued after the upgrade (-want +got):\n%s", diff)
	}
}

// TestNewerSchemaRefused: a database whose schema version is higher than
// the last migration is refused, whether goose recorded it or the version
// table before goose did.
func TestNewerSchemaRefused(t *testing.T) {
	migrations, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(migrations) == 0 {
		t.Fatalf("listing the migrations: %v (%d found)", err, len(migrations))
	}
	// The newest version known: goose's last migration, or the last of
	// the versions before goose.
	for _, tc := range []struct {
		name, insert string
		known        int
	}{
		{"goose", "INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, 1)", len(migrations)},
		{"before goose", `CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT 0);
			INSERT INTO schema_version (version) VALUES (1), (2), (3), (99)`, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "klaxon.db")
			s := open(t, path, sqlite.Options{})
			s.Close()
			raw, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(tc.insert); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			_, err = sqlite.Open(context.Background(), path, sqlite.Options{})
			want := fmt.Sprintf("database schema version 99 is newer than this klaxon-receiver knows (%d): run a newer release", tc.known)
			if err == nil || err.Error() != want {
				t.Fatalf("opening a newer schema: %v, want %q", err, want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a?b.db"), sqlite.Options{})
	if err == nil || !strings.HasSuffix(err.Error(), "a?b.db\" must not contain '?'") {
		t.Fatalf("path with '?': %v", err)
	}
}

// wait is how long a test waits for the pruner; a failure, never a pause.
const wait = 10 * time.Second

// countRows counts the rows in the file.
func countRows(t *testing.T, path string) storetest.Rows {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n storetest.Rows
	if err := raw.QueryRow(`SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM notifications),
		(SELECT count(*) FROM incidents), (SELECT count(*) FROM nonces)`).Scan(&n.Outbox, &n.Payloads, &n.Incidents, &n.Nonces); err != nil {
		t.Fatal(err)
	}
	rows, err := raw.Query(`SELECT last_error FROM outbox WHERE state = 'done' AND last_error <> '' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var note string
		if err := rows.Scan(&note); err != nil {
			t.Fatal(err)
		}
		n.Notes = append(n.Notes, note)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestClaimDoesNotPrune: with a backlog of delivered rows past the
// retention, Claim leaves them to the pruner, which deletes them all, more
// than one chunk.
func TestClaimDoesNotPrune(t *testing.T) {
	const backlog = 2500
	path := filepath.Join(t.TempDir(), "klaxon.db")
	open(t, path, sqlite.Options{}).Close()
	insertDone(t, path, backlog, t0)

	clk := testkit.NewClock(t0)
	s := open(t, path, sqlite.Options{Retention: time.Hour, PruneInterval: time.Millisecond, Now: clk.Now})
	mustIngest(t, s, newIngest("inc1", "h1", t0, "pager"))
	if got := keys(claim(t, s, t0.Add(48*time.Hour), 10)); !cmp.Equal(got, []string{"pager/inc1"}) {
		t.Fatalf("claimed %v, want pager/inc1", got)
	}
	if r := countRows(t, path).Outbox; r != backlog+1 {
		t.Fatalf("%d outbox rows after Claim, want %d: Claim pruned", r, backlog+1)
	}
	clk.Set(t0.Add(48 * time.Hour))
	testenv.Eventually(t, wait, func() error {
		if n := countRows(t, path); n.Outbox != 1 || n.Payloads != 1 {
			return fmt.Errorf("%d outbox rows and %d payloads, want 1 and 1: the pending delivery's", n.Outbox, n.Payloads)
		}
		return nil
	})
}

// insertDone adds n delivered rows, done at at, straight into the file.
func insertDone(t *testing.T, path string, n int, at time.Time) {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`INSERT INTO notifications (incident_key, received_at, payload) VALUES ('bulk', :at, '{}');
		WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n)
		INSERT INTO outbox (channel, route, incident_key, kind, notification_id, created_at, next_attempt_at, state, done_at)
		SELECT 'pager', 'ops', 'bulk' || i, 'trigger', (SELECT max(id) FROM notifications), :at, :at, 'done', :at FROM seq`,
		sql.Named("at", at.UnixNano()), sql.Named("n", n)); err != nil {
		t.Fatal(err)
	}
}

package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

var errBoom = errors.New("boom")

// TestIngestEscalateFails: a failing hook fails its Ingest, which records
// nothing, and only that one of a batch.
func TestIngestEscalateFails(t *testing.T) {
	c := newCommitCounter()
	defer c.release()
	s := open(t, "", sqlite.Options{OnCommit: c.hook})
	mustIngest(t, s, newIngest("first", "h", t0)) // the committer now waits in OnCommit

	fail := func(*store.Escalation) (*store.EscalationChange, error) { return nil, errBoom }
	grow := func(*store.Escalation) (*store.EscalationChange, error) {
		return &store.EscalationChange{State: state(1), Deliveries: []store.NewDelivery{{Channel: "chat", Kind: "trigger"}}}, nil
	}
	ins := []*store.Ingest{newIngest("inc1", "h1", t0, "pager"), newIngest("inc2", "h1", t0, "pager"), newIngest("inc3", "h1", t0, "pager")}
	ins[0].Escalate, ins[1].Escalate = store.EscalationHookFunc(grow), store.EscalationHookFunc(fail)
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		waitQueued(t, s, i) // queued in order
		wg.Go(func() { _, errs[i] = s.Ingest(context.Background(), in) })
	}
	waitQueued(t, s, len(ins))
	c.release()
	wg.Wait()

	const want = "recording notification: escalating incident inc2: boom"
	if diff := cmp.Diff([]string{"<nil>", want, "<nil>"}, []string{fmt.Sprint(errs[0]), fmt.Sprint(errs[1]), fmt.Sprint(errs[2])}); diff != "" {
		t.Fatalf("errors (-want +got):\n%s", diff)
	}
	if !errors.Is(errs[1], errBoom) || errors.Is(errs[1], store.ErrUnavailable) {
		t.Fatalf("error %v: want the hook's, not the store's", errs[1])
	}
	if got := c.transactionsFor(t, 3); got != 2 {
		t.Fatalf("%d transactions, want 2 (the first, then the other ingests together)", got)
	}
	if diff := cmp.Diff([]string{"pager/inc1", "chat/inc1", "pager/inc3"}, keys(claim(t, s, t0, 10))); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"inc1"}, storetest.EscalationKeysOf(openEscalations(t, s))); diff != "" {
		t.Fatalf("escalations (-want +got):\n%s", diff)
	}
	// inc2's state was not recorded: the same notification is not a
	// duplicate.
	if res := mustIngest(t, s, newIngest("inc2", "h1", t0, "pager")); res.Duplicate {
		t.Fatal("the failed ingest recorded the incident's state")
	}
}

// TestUpgradeFromSchema2: a file of schema 2 opens with its outbox intact
// and takes escalations.
func TestUpgradeFromSchema2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klaxon.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	queries := []string{`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT 0)`}
	for _, f := range []string{"migrations/0001_init.sql", "migrations/0002_requeued_at.sql"} {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		queries = append(queries, string(text))
	}
	queries = append(queries,
		`INSERT INTO schema_version (version) VALUES (1), (2)`,
		`INSERT INTO incidents (incident_key, route, group_key, status, state_hash, first_seen, updated_at)
			VALUES ('inc1', 'ops', '{}', 'firing', 'h1', 0, 0)`,
		`INSERT INTO notifications (incident_key, received_at, payload) VALUES ('inc1', 0, '{}')`,
		`INSERT INTO outbox (channel, route, incident_key, kind, notification_id, created_at, next_attempt_at)
			VALUES ('pager', 'ops', 'inc1', 'trigger', 1, 0, 0)`)
	for _, q := range queries {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	s := open(t, path, sqlite.Options{Now: testkit.NewClock(t0).Now})
	update(t, s, "inc1", set(&store.EscalationChange{Policy: "p", State: state(1),
		Deliveries: []store.NewDelivery{{Channel: "pager", Kind: "trigger"}}}))
	want := []store.Escalation{{IncidentKey: "inc1", Route: "ops", Policy: "p", State: state(1), UpdatedAt: t0, Payload: []byte("{}")}}
	if diff := cmp.Diff(want, openEscalations(t, s)); diff != "" {
		t.Fatalf("escalations after the upgrade (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"pager/inc1/{}"}, ids(claim(t, s, t0, 10))); diff != "" {
		t.Fatalf("claimed after the upgrade (-want +got):\n%s", diff)
	}
}

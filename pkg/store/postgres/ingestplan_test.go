package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

// TestBatchDecidesAsOneByOne: calls recorded in one transaction record
// exactly what the same calls record one transaction each: a batch that
// mixes incidents, repeats, older states, several calls of one incident,
// escalation hooks that start, refresh, leave and end escalations, add
// deliveries with payloads of their own, fail or return a change that is
// not valid. Their results, errors, what each hook was shown, and every
// row of every table (ids as ranks) are the same.
func TestBatchDecidesAsOneByOne(t *testing.T) {
	oneByOne := runDecisions(t, false)
	batched := runDecisions(t, true)
	if diff := cmp.Diff(oneByOne, batched); diff != "" {
		t.Fatalf("one batch against one transaction per call (-one by one +batched):\n%s", diff)
	}
	// The calls decided something of each kind.
	for _, want := range []string{"Duplicate:true", "boom", "channel is empty"} {
		found := false
		for _, r := range oneByOne.Results {
			found = found || strings.Contains(r, want)
		}
		if !found {
			t.Errorf("no call's result has %q: %v", want, oneByOne.Results)
		}
	}
}

// decisions is what runDecisions records.
type decisions struct {
	Results []string
	Shown   []string
	Tables  tables
}

var errBoom = errors.New("boom")

// runDecisions records the same history on a fresh database: incidents
// and escalations recorded beforehand, then the calls of batchCalls, in
// one transaction if batched, else one transaction each.
func runDecisions(t *testing.T, batched bool) decisions {
	dsn := testenv.PostgresDatabase(t)
	now := func() time.Time { return t0 }
	s := open(t, dsn, postgres.Options{Now: now, MaxBatch: 1})
	before(t, s)

	var d decisions
	var mu sync.Mutex
	show := func(i int) store.EscalationHookFunc {
		return func(cur *store.Escalation) (*store.EscalationChange, error) {
			mu.Lock()
			defer mu.Unlock()
			d.Shown = append(d.Shown, fmt.Sprintf("call %d: %s", i, describe(cur)))
			return nil, nil
		}
	}
	calls := batchCalls(show)
	results := make([]string, len(calls))
	record := func(i int) {
		res, err := s.Ingest(context.Background(), calls[i])
		results[i] = fmt.Sprintf("%+v %v", res, err)
	}
	if !batched {
		mustIngest(t, s, newIngest("warmup", "h", t0)) // as the batched run does
		for i := range calls {
			record(i)
		}
	} else {
		s.Close()
		c := newCommitCounter()
		defer c.release()
		s = open(t, dsn, postgres.Options{Now: now, OnCommit: c.hook})
		mustIngest(t, s, newIngest("warmup", "h", t0)) // the committer now waits in OnCommit
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() { record(i) })
			waitQueued(t, s, i+1) // queue in order
		}
		c.release()
		wg.Wait()
		if n := c.transactionsFor(t, int64(1+countRecorded(results))); n != 2 {
			t.Fatalf("%d transactions, want 2: the warm-up, then the batch", n)
		}
	}
	d.Results = results
	d.Tables = dumpTables(t, dsn)
	return d
}

func countRecorded(results []string) int {
	n := 0
	for _, r := range results {
		if strings.Contains(r, "<nil>") {
			n++
		}
	}
	return n
}

// before records, one transaction each: incident a with an escalation,
// and the escalations of incidents b and f, which have no notification
// yet; a's and b's are claimed.
func before(t *testing.T, s *postgres.Store) {
	t.Helper()
	a := storetest.WithAlerts(newIngest("a", "h1", t0, "pager"), storetest.Firing("a1", t0))
	a.Escalate = counting(nil)
	mustIngest(t, s, a)
	storetest.Update(t, s, "b", storetest.Set(&store.EscalationChange{Route: "db", Policy: "p", State: storetest.State(7), NextAt: t0.Add(time.Hour)}))
	storetest.Update(t, s, "f", storetest.Set(&store.EscalationChange{Route: "db", Policy: "p", State: storetest.State(3)}))
	// a's and b's timers are being handled: b's lease stays, a's ends
	// with its next change.
	if es, err := s.ClaimDueEscalations(context.Background(), t0.Add(time.Hour), storetest.Lease, 10); err != nil || len(es) != 2 {
		t.Fatalf("claimed %+v, %v; want a's and b's escalations", es, err)
	}
}

// counting is a hook that counts the notifications of an escalation, and
// adds the deliveries ds.
func counting(ds []store.NewDelivery) store.EscalationHookFunc {
	return func(cur *store.Escalation) (*store.EscalationChange, error) {
		n := 0
		if cur != nil {
			var c struct{ N int }
			if err := json.Unmarshal(cur.State, &c); err != nil {
				return nil, err
			}
			n = c.N
		}
		return &store.EscalationChange{Policy: "p", State: storetest.State(n + 1), NextAt: t0.Add(time.Duration(n+1) * time.Minute), Deliveries: ds}, nil
	}
}

// then is a hook that shows what it got and then runs next.
func then(shown store.EscalationHookFunc, next store.EscalationHookFunc) store.EscalationHookFunc {
	return func(cur *store.Escalation) (*store.EscalationChange, error) {
		shown(cur)
		return next(cur)
	}
}

func batchCalls(show func(int) store.EscalationHookFunc) []*store.Ingest {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	a1, a2 := storetest.Firing("a1", t0), storetest.Firing("a2", at(1))
	calls := []*store.Ingest{
		// 0: a's state changes; its escalation counts on and adds a delivery.
		storetest.WithAlerts(newIngest("a", "h2", at(1), "pager", "chat"), a1, a2),
		// 1: the same state again: a duplicate.
		storetest.WithAlerts(newIngest("a", "h2", at(2), "pager", "chat"), a1, a2),
		// 2: an older state of a1: a duplicate.
		storetest.WithAlerts(newIngest("a", "h3", at(2), "pager"), storetest.Firing("a1", t0.Add(-time.Hour))),
		// 3: a new incident whose hook fails: refused.
		newIngest("c", "h1", at(3), "pager"),
		// 4: the same again: news, since 3 recorded nothing; its
		// escalation starts with a delivery of a payload of its own.
		newIngest("c", "h1", at(3), "pager"),
		// 5: a1 resolves; the hook changes nothing.
		storetest.WithAlerts(newIngest("a", "h4", at(4), "pager"), storetest.Resolved("a1", t0), a2),
		// 6: a new incident with an escalation recorded before: the hook
		// changes nothing, the escalation refers to this notification.
		newIngest("b", "h1", at(5), "pager"),
		// 7: no hook, two channels.
		newIngest("d", "h1", at(5), "pager", "chat"),
		// 8: a's escalation ends, with a delivery of a payload of its own.
		storetest.WithAlerts(newIngest("a", "h5", at(6), "pager"), storetest.Resolved("a1", t0), storetest.Resolved("a2", at(1))),
		// 9: a fires again: the hook finds no escalation and starts one.
		storetest.WithAlerts(newIngest("a", "h6", at(7), "pager"), storetest.Firing("a1", at(7))),
		// 10: a hook whose change is not valid: refused.
		newIngest("e", "h1", at(8), "pager"),
		// 11: f's escalation, recorded before, ends.
		newIngest("f", "h1", at(9)),
		// 12: c again: its escalation counts on.
		newIngest("c", "h2", at(10), "pager"),
	}
	hooks := map[int]store.EscalationHookFunc{
		0: counting([]store.NewDelivery{{Channel: "chat", Kind: "escalate"}}),
		1: func(*store.Escalation) (*store.EscalationChange, error) {
			return nil, errors.New("ran for a duplicate")
		},
		2: func(*store.Escalation) (*store.EscalationChange, error) {
			return nil, errors.New("ran for a duplicate")
		},
		3:  func(*store.Escalation) (*store.EscalationChange, error) { return nil, errBoom },
		4:  counting([]store.NewDelivery{{Channel: "chat", Kind: "escalate", Payload: []byte(`{"page":"c"}`)}}),
		5:  func(*store.Escalation) (*store.EscalationChange, error) { return nil, nil },
		6:  func(*store.Escalation) (*store.EscalationChange, error) { return nil, nil },
		8:  storetest.Set(&store.EscalationChange{Delete: true, Deliveries: []store.NewDelivery{{Channel: "chat", Kind: "resolve", Payload: []byte(`{"page":"a"}`)}}}),
		9:  counting(nil),
		10: storetest.Set(&store.EscalationChange{Policy: "p", Deliveries: []store.NewDelivery{{Kind: "escalate"}}}),
		11: storetest.Set(&store.EscalationChange{Delete: true}),
		12: counting(nil),
	}
	for i, fn := range hooks {
		calls[i].Escalate = then(show(i), fn)
	}
	return calls
}

func describe(e *store.Escalation) string {
	if e == nil {
		return "none"
	}
	return fmt.Sprintf("%+v", *e)
}

// tables are the rows of every table but the nonces, ids as ranks.
type tables struct {
	Incidents, Notifications, Outbox, Escalations []string
}

func dumpTables(t *testing.T, dsn string) tables {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// rank(id) is a notification's rank by id.
	const ranks = `WITH r AS (SELECT id, rank() OVER (ORDER BY id) AS rank FROM notifications) `
	var out tables
	for _, q := range []struct {
		dst   *[]string
		query string
	}{
		{&out.Incidents, `SELECT row(i.*)::text FROM incidents AS i ORDER BY incident_key`},
		{&out.Notifications, `SELECT row(r.rank, n.incident_key, n.received_at, convert_from(n.payload, 'UTF8'))::text
			FROM notifications AS n JOIN (SELECT id, rank() OVER (ORDER BY id) AS rank FROM notifications) AS r USING (id) ORDER BY n.id`},
		{&out.Outbox, ranks + `SELECT row(rank() OVER (ORDER BY o.id), o.channel, o.route, o.incident_key, o.kind, r.rank,
			o.created_at, o.next_attempt_at, o.attempts, o.last_error, o.lease_until, o.state, o.done_at, o.requeued_at, o.claims, o.taken_over)::text
			FROM outbox AS o JOIN r ON r.id = o.notification_id ORDER BY o.id`},
		{&out.Escalations, ranks + `SELECT row(e.incident_key, e.route, e.policy, convert_from(e.state, 'UTF8'), e.next_at, e.lease_until, e.updated_at, r.rank)::text
			FROM escalations AS e LEFT JOIN r ON r.id = e.notification_id ORDER BY e.incident_key`},
	} {
		rows, err := conn.Query(ctx, q.query)
		if err != nil {
			t.Fatal(err)
		}
		if *q.dst, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

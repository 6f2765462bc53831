// Package storetest is the conformance suite that every store driver must
// pass: Run tests a driver's store.Store and store.Escalations through
// their interfaces alone, each test on a fresh, empty database. A driver
// runs it from its own tests with a Database of its kind; the helpers
// here serve those tests too.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// Store is what the suite tests: a driver's store.
type Store interface {
	store.Store
	store.Escalations
}

// Options are what a test asks of the store it opens.
type Options struct {
	// Now is the store's clock: the one pruning measures the retention
	// by, UpdateEscalation records by and nonces expire by; nil is the
	// driver's default (time.Now).
	Now func() time.Time
	// Retention is how long delivered rows are kept; zero is the driver's
	// default.
	Retention time.Duration
}

// Database is one database of the driver under test, empty when the suite
// gets it.
type Database interface {
	// Open opens a store on the database and closes it when the test
	// ends. A store opened after the one before it was closed sees all
	// that one recorded.
	Open(t *testing.T, opts Options) Store
	// Prune has s delete what is past its retention at its clock's time,
	// and returns once that is done.
	Prune(t *testing.T, s Store)
	// Rows counts what the database holds.
	Rows(t *testing.T) Rows
}

// Rows are the rows a database holds.
type Rows struct {
	// Outbox rows: deliveries pending, done or dead.
	Outbox int
	// Payloads of accepted notifications.
	Payloads int
	// Incidents whose state is recorded.
	Incidents int
	// Nonces of used links.
	Nonces int
	// Notes are the last errors of the done outbox rows that have one,
	// oldest first: what Settle recorded of superseded deliveries.
	Notes []string
}

// Run runs the suite, each test in a subtest of its own on the database
// newDatabase returns for it.
func Run(t *testing.T, newDatabase func(t *testing.T) Database) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newDatabase(t)) })
	}
}

var tests = []struct {
	name string
	run  func(*testing.T, Database)
}{
	// outbox.go
	{"RoundTrip", testRoundTrip},
	{"DuplicateState", testDuplicateState},
	{"OlderState", testOlderState}, // news.go
	{"PerIncidentOrder", testPerIncidentOrder},
	{"RetryHoldsBackTheIncident", testRetryHoldsBackTheIncident},
	{"Lease", testLease},
	{"ClaimLimitOldestFirst", testClaimLimitOldestFirst},
	{"NotDueYet", testNotDueYet},
	{"RescheduleBuryRequeue", testRescheduleBuryRequeue},
	{"RequeueSkipsSuperseded", testRequeueSkipsSuperseded},
	{"PostponeKeepsAttemptsAndError", testPostponeKeepsAttemptsAndError},
	{"RetryNow", testRetryNow},
	{"Renew", testRenew},
	{"TakenOver", testTakenOver},
	{"ClaimAlong", testClaimAlong},
	{"Settle", testSettle},
	{"ClaimRun", testClaimRun},
	{"SettleSuperseded", testSettleSuperseded},
	{"Restart", testRestart},
	{"Retention", testRetention},
	{"Closed", testClosed},
	{"IngestValidation", testIngestValidation},
	// escalations.go
	{"UpdateEscalation", testUpdateEscalation},
	{"UpdateEscalationRollsBack", testUpdateEscalationRollsBack},
	{"UpdateEscalationValidation", testUpdateEscalationValidation},
	{"ConcurrentEscalationUpdates", testConcurrentEscalationUpdates},
	{"ClaimDueEscalations", testClaimDueEscalations},
	{"ClaimDueEscalationsOrder", testClaimDueEscalationsOrder},
	{"IngestEscalates", testIngestEscalates},
	{"IngestEscalateFails", testIngestEscalateFails},
	{"EscalationKeys", testEscalationKeys},
	{"UseNonce", testUseNonce},
	{"PruneKeepsEscalations", testPruneKeepsEscalations},
	{"EscalationsSurviveRestart", testEscalationsSurviveRestart},
	{"EscalationsUnavailable", testEscalationsUnavailable},
}

// T0 is when the suite's notifications arrive.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Lease is how long the suite's claims lease.
const Lease = 2 * time.Minute

// NewIngest is a notification of incident key in state hash, firing, for
// the channels.
func NewIngest(key, hash string, at time.Time, channels ...string) *store.Ingest {
	return &store.Ingest{
		Route:       "ops",
		IncidentKey: key,
		GroupKey:    `{}:{alertname="` + key + `"}`,
		StateHash:   hash,
		Status:      "firing",
		Kind:        "trigger",
		Payload:     []byte(Payload(key, hash)),
		Channels:    channels,
		ReceivedAt:  at,
	}
}

// Payload is NewIngest's payload.
func Payload(key, hash string) string { return `{"incident":"` + key + `","state":"` + hash + `"}` }

// WebhookPayload is an Alertmanager webhook payload of 10 firing alerts,
// about 5.7 kB, as the benchmarks record.
func WebhookPayload(t testing.TB) []byte {
	t.Helper()
	m := &alert.Message{
		Version: "4", GroupKey: `{}:{alertname="HighErrorRate"}`, Status: alert.StatusFiring, Receiver: "ops",
		GroupLabels:  map[string]string{"alertname": "HighErrorRate"},
		CommonLabels: map[string]string{"alertname": "HighErrorRate", "severity": "critical"},
		ExternalURL:  "http://alertmanager:9093",
	}
	for i := range 10 {
		m.Alerts = append(m.Alerts, alert.Alert{
			Status:       alert.StatusFiring,
			Labels:       map[string]string{"alertname": "HighErrorRate", "severity": "critical", "instance": fmt.Sprintf("web-%d:8080", i), "job": "web"},
			Annotations:  map[string]string{"summary": "5xx above 5% on web", "description": "The error ratio has been above 5% for 10 minutes.", "runbook_url": "highErrorRate.md"},
			StartsAt:     T0.Add(-time.Duration(i) * time.Minute),
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=job%3Ahttp_requests%3Aerror_ratio_rate5m+%3E+0.05",
			Fingerprint:  fmt.Sprintf("%016x", i),
		})
	}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// MustIngest records in.
func MustIngest(t testing.TB, s store.Store, in *store.Ingest) store.IngestResult {
	t.Helper()
	res, err := s.Ingest(context.Background(), in)
	if err != nil {
		t.Fatalf("ingest %s/%s: %v", in.IncidentKey, in.StateHash, err)
	}
	return res
}

// Claim claims up to limit deliveries at now, for Lease.
func Claim(t testing.TB, s store.Store, now time.Time, limit int) []store.Delivery {
	t.Helper()
	ds, err := s.Claim(context.Background(), now, Lease, limit)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// IDs returns "channel/incident/payload" for each delivery.
func IDs(ds []store.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s/%s/%s", d.Channel, d.IncidentKey, d.Payload))
	}
	return out
}

// Keys returns "channel/incident" for each delivery.
func Keys(ds []store.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Channel+"/"+d.IncidentKey)
	}
	return out
}

// counter is the suite's escalation state.
type counter struct {
	N int `json:"n"`
}

// State is the escalation state of count n.
func State(n int) []byte {
	b, _ := json.Marshal(counter{N: n})
	return b
}

// stateOf is the count of e's state.
func stateOf(t testing.TB, e *store.Escalation) int {
	t.Helper()
	var c counter
	if err := json.Unmarshal(e.State, &c); err != nil {
		t.Fatalf("escalation state %q: %v", e.State, err)
	}
	return c.N
}

// Set returns an update that records the change as it is.
func Set(ch *store.EscalationChange) func(*store.Escalation) (*store.EscalationChange, error) {
	return func(*store.Escalation) (*store.EscalationChange, error) { return ch, nil }
}

// Update updates the incident's escalation with fn.
func Update(t testing.TB, s store.Escalations, key string, fn func(*store.Escalation) (*store.EscalationChange, error)) {
	t.Helper()
	if err := s.UpdateEscalation(context.Background(), key, fn); err != nil {
		t.Fatal(err)
	}
}

// OpenEscalations lists the escalations.
func OpenEscalations(t testing.TB, s store.Escalations) []store.Escalation {
	t.Helper()
	es, err := s.OpenEscalations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// EscalationKeysOf returns each escalation's incident key.
func EscalationKeysOf(es []store.Escalation) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.IncidentKey)
	}
	return out
}

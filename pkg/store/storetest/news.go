package storetest

import (
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// Firing is an alert of fingerprint fp firing since start, for an
// Ingest's Alerts.
func Firing(fp string, start time.Time) store.AlertState {
	return store.AlertState{Fingerprint: fp, StartsAt: start}
}

// Resolved is Firing's alert resolved.
func Resolved(fp string, start time.Time) store.AlertState {
	return store.AlertState{Fingerprint: fp, StartsAt: start, Resolved: true}
}

// WithAlerts is in with its group's alerts, status resolved when they all
// are.
func WithAlerts(in *store.Ingest, alerts ...store.AlertState) *store.Ingest {
	in.Alerts = alerts
	in.Status, in.Kind = "resolved", "resolve"
	for _, a := range alerts {
		if !a.Resolved {
			in.Status, in.Kind = "firing", "trigger"
		}
	}
	return in
}

// testOlderState: a state older than the one recorded, reaching the store
// after it, adds no delivery; a later one does, and so does an alert
// that fires again.
func testOlderState(t *testing.T, db Database) {
	s := db.Open(t, Options{})
	a, b := T0.Add(-time.Hour), T0.Add(-30*time.Minute)
	steps := []struct {
		what  string
		in    *store.Ingest
		isNew bool
	}{
		{"a fires", WithAlerts(NewIngest("inc1", "s1", T0, "pager"), Firing("a", a)), true},
		{"b joins", WithAlerts(NewIngest("inc1", "s2", T0.Add(time.Second), "pager"), Firing("a", a), Firing("b", b)), true},
		{"a alone, again", WithAlerts(NewIngest("inc1", "s1", T0.Add(2*time.Second), "pager"), Firing("a", a)), false},
		{"a resolves", WithAlerts(NewIngest("inc1", "s3", T0.Add(3*time.Second), "pager"), Resolved("a", a), Firing("b", b)), true},
		{"a firing, from before it resolved", WithAlerts(NewIngest("inc1", "s2", T0.Add(4*time.Second), "pager"), Firing("a", a), Firing("b", b)), true},
		{"a resolves again", WithAlerts(NewIngest("inc1", "s3", T0.Add(5*time.Second), "pager"), Resolved("a", a), Firing("b", b)), true},
		{"a fires anew", WithAlerts(NewIngest("inc1", "s4", T0.Add(6*time.Second), "pager"), Firing("a", T0.Add(6*time.Second)), Firing("b", b)), true},
		{"a's first episode, late", WithAlerts(NewIngest("inc1", "s5", T0.Add(7*time.Second), "pager"), Resolved("a", a), Firing("b", b)), false},
		{"all resolve", WithAlerts(NewIngest("inc1", "s6", T0.Add(8*time.Second), "pager"), Resolved("a", T0.Add(6*time.Second)), Resolved("b", b)), true},
		{"b firing again in its episode: a page rather than a missed one", WithAlerts(NewIngest("inc1", "s7", T0.Add(9*time.Second), "pager"), Firing("b", b)), true},
		{"b from an earlier episode", WithAlerts(NewIngest("inc1", "s8", T0.Add(10*time.Second), "pager"), Firing("b", b.Add(-time.Hour))), false},
		{"c alone, b forgotten", WithAlerts(NewIngest("inc1", "s9", T0.Add(10*time.Second+store.ForgetAlertsAfter), "pager"), Firing("c", T0)), true},
		{"b from an earlier episode, after b was forgotten", WithAlerts(NewIngest("inc1", "s8", T0.Add(11*time.Second+store.ForgetAlertsAfter), "pager"), Firing("b", b.Add(-time.Hour))), true},
	}
	for _, st := range steps {
		want := store.IngestResult{Deliveries: 1}
		if !st.isNew {
			want = store.IngestResult{Duplicate: true}
		}
		if got := MustIngest(t, s, st.in); got != want {
			t.Fatalf("%s: got %+v, want %+v", st.what, got, want)
		}
	}
}

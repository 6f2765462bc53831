package store_test

import (
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/store"
)

// TestOfferWithoutAlerts: an incident recorded before alerts were kept,
// or a notification that names none, is compared by state hash.
func TestOfferWithoutAlerts(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	legacy := &store.Recorded{StateHash: "h1"}
	firing := []store.AlertState{{Fingerprint: "a", StartsAt: at}}
	for _, tc := range []struct {
		what   string
		cur    *store.Recorded
		hash   string
		alerts []store.AlertState
		news   bool
	}{
		{"a new incident", nil, "h1", firing, true},
		{"the recorded hash, with alerts", legacy, "h1", firing, false},
		{"another hash, with alerts", legacy, "h2", firing, true},
		{"the recorded hash, no alerts", legacy, "h1", nil, false},
		{"another hash, no alerts", legacy, "h2", nil, true},
	} {
		next, news := store.Offer(tc.cur, &store.Ingest{StateHash: tc.hash, Alerts: tc.alerts, ReceivedAt: at})
		if news != tc.news {
			t.Errorf("%s: news %v, want %v", tc.what, news, tc.news)
		}
		if news && (next.StateHash != tc.hash || len(next.Alerts) != len(tc.alerts)) {
			t.Errorf("%s: records %+v, want hash %s and %d alerts", tc.what, next, tc.hash, len(tc.alerts))
		}
		for _, a := range next.Alerts {
			if news && !a.Seen.Equal(at) {
				t.Errorf("%s: alert %s seen at %v, want %v", tc.what, a.Fingerprint, a.Seen, at)
			}
		}
	}
}

// TestAlertsRoundTrip: what EncodeAlerts writes, DecodeAlerts reads back;
// no alerts encode as an empty list, and text that is not the encoding is
// refused.
func TestAlertsRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 1, time.UTC)
	in := []store.AlertState{{Fingerprint: "a", StartsAt: at, Resolved: true, Seen: at.Add(time.Second)}}
	s, err := store.EncodeAlerts(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := store.DecodeAlerts(s)
	if err != nil || len(out) != 1 || out[0] != in[0] {
		t.Fatalf("decoded %+v, %v; want %+v", out, err, in)
	}
	if s, _ := store.EncodeAlerts(nil); s != "[]" {
		t.Fatalf("no alerts encode as %q, want []", s)
	}
	if _, err := store.DecodeAlerts("{"); err == nil {
		t.Fatal("decoding text that is not a list of alerts: no error")
	}
}

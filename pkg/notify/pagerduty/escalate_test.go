package pagerduty

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/klaxonhq/klaxon/pkg/notify"
)

// TestEscalationKindsAreSkipped: the upstream escalates by itself, so
// escalate and acknowledged notifications make no request.
func TestEscalationKindsAreSkipped(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	p := newNotifier(t, testConfig(srv.URL), nil)
	for _, kind := range []notify.Kind{notify.KindEscalate, notify.KindAcknowledged} {
		n := notification(kind, firingTwo())
		n.Level, n.Mentions, n.AckedBy = 2, []string{"<@U1>"}, "Ada"
		if err := p.Notify(context.Background(), n); err != nil {
			t.Errorf("%s: %v, want nil", kind, err)
		}
	}
	// The same server answers a trigger, so the count above can fail.
	if err := p.Notify(context.Background(), notification(notify.KindTrigger, firingTwo())); err == nil {
		t.Error("trigger against a failing server succeeded")
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("%d requests, want 1 (the trigger's only)", got)
	}
}

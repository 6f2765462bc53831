package statuspage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/acklink"
	"github.com/klaxonhq/klaxon/pkg/incident"
)

var (
	testKey = []byte("0123456789abcdef0123456789abcdef")
	testNow = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	// testSession is a valid CSRF session cookie: 32 bytes, base64url.
	testSession = strings.Repeat("A", 42) + "E"
)

const (
	diskID    = "5f1c3a9e0b7d4c2a8e6f1b3d5c7a9e0b2d4f6a8c0e2b4d6f8a1c3e5b7d9f0a2c"
	latencyID = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9"
	oddID     = "odd/id with spaces"
	goneID    = "0000000000000000000000000000000000000000000000000000000000000000"
)

// fixtureIncidents covers every status, severity colour and optional field.
func fixtureIncidents() []incident.Incident {
	return []incident.Incident{
		{
			ID: latencyID, Route: "web", Title: "HighLatency: api p99 above 2s", Severity: "warning",
			Status: incident.StatusAcknowledged, Started: testNow.Add(-27*time.Hour - 4*time.Minute), Level: 1,
			Paged: []string{"carol"}, AckedBy: "carol", AckedAt: testNow.Add(-90 * time.Minute),
			Alerts: []incident.Alert{{Name: "HighLatency", Summary: "p99 latency of api is 2.4s", RunbookURL: "https://runbooks.example.com/highlatency"}},
		},
		{
			ID: oddID, Route: "misc", Title: `<script>alert("x")</script> & friends`, Severity: "",
			Status: incident.StatusFiring, Started: testNow.Add(-30 * time.Second),
			Alerts: []incident.Alert{{Name: "Odd", RunbookURL: "javascript:alert(1)"}},
		},
		{
			ID: diskID, Route: "infra", Title: "DiskFull: db1 /var at 97%", Severity: "critical",
			Status: incident.StatusFiring, Started: testNow.Add(-18 * time.Minute), Level: 2,
			Paged: []string{"alice", "bob"},
			Alerts: []incident.Alert{
				{Name: "DiskFull", Summary: "/var on db1 is 97% full", RunbookURL: "https://runbooks.example.com/diskfull"},
				{Name: "DiskFillingUp", Summary: "/var on db1 fills in 2h"},
			},
		},
		{
			ID: goneID, Route: "infra", Title: "Resolved one", Severity: "critical",
			Status: incident.StatusResolved, Started: testNow.Add(-time.Hour),
		},
	}
}

func fixtureOnCall() []OnCall {
	return []OnCall{
		{
			Schedule: "primary", User: "alice", Until: testNow.Add(4*time.Hour + 30*time.Minute),
			Next: []Handoff{
				{At: testNow.Add(4*time.Hour + 30*time.Minute), User: "bob"},
				{At: testNow.Add(28*time.Hour + 30*time.Minute), User: "alice"},
			},
		},
		{Schedule: "weekend", User: "", Next: []Handoff{{At: testNow.Add(80 * time.Hour), User: ""}}},
	}
}

type ackCall struct{ ID, By string }

// fakeSource keeps incidents in memory and acknowledges them as the
// escalation engine would.
type fakeSource struct {
	mu           sync.Mutex
	incidents    []incident.Incident
	oncall       []OnCall
	acks         []ackCall
	incidentsErr error
	oncallErr    error
	ackErr       error
	onCallAt     []time.Time
}

func newFakeSource() *fakeSource {
	return &fakeSource{incidents: fixtureIncidents(), oncall: fixtureOnCall()}
}

func (f *fakeSource) Incidents(ctx context.Context) ([]incident.Incident, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.incidentsErr != nil {
		return nil, f.incidentsErr
	}
	return slices.Clone(f.incidents), nil
}

func (f *fakeSource) OnCall(ctx context.Context, at time.Time) ([]OnCall, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCallAt = append(f.onCallAt, at)
	return f.oncall, f.oncallErr
}

func (f *fakeSource) Ack(ctx context.Context, id, by string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ackErr != nil {
		return f.ackErr
	}
	for i := range f.incidents {
		inc := &f.incidents[i]
		if inc.ID == id && inc.Status != incident.StatusResolved {
			inc.Status, inc.AckedBy, inc.AckedAt = incident.StatusAcknowledged, by, testNow
			f.acks = append(f.acks, ackCall{id, by})
			return nil
		}
	}
	return fmt.Errorf("incident %s: %w", id, incident.ErrNotFound)
}

func (f *fakeSource) Acks() []ackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.acks)
}

// fixture is a handler on a fake source, with the fixed clock.
type fixture struct {
	src    *fakeSource
	signer *acklink.Signer
	nonces *acklink.MemoryNonces
	h      http.Handler
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	signer, err := acklink.NewSigner(testKey)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{src: newFakeSource(), signer: signer, nonces: &acklink.MemoryNonces{Now: func() time.Time { return testNow }}}
	opts.Now = func() time.Time { return testNow }
	if opts.Logger == nil {
		opts.Logger = promslog.NewNopLogger()
	}
	f.h = New(f.src, f.signer, f.nonces, opts)
	return f
}

// do serves one request; form, if not nil, is posted urlencoded.
func (f *fixture) do(method, target string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) token(id string, expires time.Time) string {
	return f.signer.Sign(id, acklink.ActionAck, expires, acklink.NewNonce())
}

var sessionCookie = &http.Cookie{Name: csrfCookie, Value: testSession}

var titleRE = regexp.MustCompile(`<h1>([^<]*)</h1>`)

// title is the page's h1.
func title(body string) string {
	if m := titleRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

func checkStatus(t *testing.T, rec *httptest.ResponseRecorder, code int, wantTitle string) {
	t.Helper()
	if rec.Code != code {
		t.Errorf("status = %d, want %d\n%s", rec.Code, code, rec.Body)
	}
	if got := title(rec.Body.String()); got != wantTitle {
		t.Errorf("page title = %q, want %q", got, wantTitle)
	}
}

var errBroken = errors.New("database is locked")

package receiver

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/internal/receivertest"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/receiver/client"
)

// collidingGroups are two group keys whose incident keys on route
// critical share their first 8 characters (7df915ff), found by trying
// alertname=CollideN in turn.
var collidingGroups = [2]string{`{}:{alertname="Collide16791"}`, `{}:{alertname="Collide82671"}`}

// TestAmbiguousIncidentID: a short ID that two open incidents share is
// refused with both keys, and a longer prefix names one.
func TestAmbiguousIncidentID(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	h := newEscHarness(t, t.TempDir(), fake, fake.NewWebhook(), escStart)
	var keys [2]string
	for i, g := range collidingGroups {
		keys[i] = h.post(t, receivertest.Message(g, alert.StatusFiring, "a="+alert.StatusFiring))
	}
	short := alert.ShortID(keys[0])
	if alert.ShortID(keys[1]) != short {
		t.Fatalf("incident keys %s and %s do not share a short ID", keys[0], keys[1])
	}
	first, second := keys[0], keys[1]
	if second < first {
		first, second = second, first
	}
	a := receivertest.Serve(t, h.handler, http.MethodPost, "/api/v1/incidents/"+short+"/ack", []byte(`{"by":"alice"}`), bearerHeader)
	want := `{"error":"incident ID ` + short + ` matches 2 incidents (` + first + `, ` + second + `): give more of the ID"}`
	if a.Code != http.StatusConflict || strings.TrimSpace(a.Raw) != want {
		t.Errorf("ack %s: %d %s, want 409 %s", short, a.Code, a.Raw, want)
	}
	if _, err := h.svc.Incidents.Resolve(t.Context(), short, "alice"); !errors.Is(err, incident.ErrAmbiguousID) {
		t.Errorf("resolve %s: %v, want incident.ErrAmbiguousID", short, err)
	}
	// The shortest prefix that tells them apart names one.
	n := 0
	for first[n] == second[n] {
		n++
	}
	a = receivertest.Serve(t, h.handler, http.MethodPost, "/api/v1/incidents/"+second[:n+1]+"/ack", []byte(`{"by":"alice"}`), bearerHeader)
	if a.Code != http.StatusOK || !strings.Contains(a.Raw, `"id":"`+second+`"`) {
		t.Errorf("ack %s: %d %s, want incident %s acknowledged", second[:n+1], a.Code, a.Raw, second)
	}
	// The status page takes a prefix too, but to it an ambiguous one is
	// no open incident.
	src := &statusSource{incidents: h.svc.Incidents, current: h.svc.Config}
	if err := src.Ack(t.Context(), short, "alice"); !errors.Is(err, incident.ErrNotFound) || !errors.Is(err, incident.ErrAmbiguousID) {
		t.Errorf("status page ack of %s: %v, want incident.ErrNotFound and incident.ErrAmbiguousID", short, err)
	}
	if err := src.Ack(t.Context(), first[:n+1], "carol"); err != nil {
		t.Errorf("status page ack of %s: %v", first[:n+1], err)
	}
	list, err := h.svc.Incidents.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.AckedBy != "alice" && in.AckedBy != "carol" {
			t.Errorf("incident %s acknowledged by %q, want alice or carol", in.ID, in.AckedBy)
		}
	}
}

// TestStatusPageAckByPrefix: the status page's acknowledge action takes
// the short ID, and refuses one too short as no open incident.
func TestStatusPageAckByPrefix(t *testing.T) {
	f := newStatusFixture(t, statusSecret)
	key := f.openIncident(t)
	res, body := f.do(t, httptest.NewRequest(http.MethodGet, "/", nil))
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	post := func(id string) int {
		form := url.Values{"csrf": {m[1]}, "name": {"Carol"}}
		r := httptest.NewRequest(http.MethodPost, "/incidents/"+id+"/ack", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range res.Cookies() {
			r.AddCookie(c)
		}
		got, _ := f.do(t, r)
		return got.StatusCode
	}
	if code := post(key[:7]); code != http.StatusNotFound {
		t.Errorf("ack of %s = %d, want 404", key[:7], code)
	}
	if code := post(alert.ShortID(key)); code != http.StatusSeeOther {
		t.Errorf("ack of %s = %d, want 303", alert.ShortID(key), code)
	}
	if s := f.state(t, key); s.AckedBy != "Carol" {
		t.Errorf("stored state acked by %q, want Carol", s.AckedBy)
	}
}

// TestAckTwice: the same person acknowledging again is told so and
// succeeds; someone else is told who has the incident, and since when.
func TestAckTwice(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	h := newEscHarness(t, t.TempDir(), fake, fake.NewWebhook(), escStart)
	key := h.post(t, firing("a"))
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	receivertest.WriteFile(t, tokenFile, escBearer+"\n")
	c := &client.Client{URL: srv.URL, BearerTokenFile: tokenFile}

	var out strings.Builder
	if err := c.Acknowledge(t.Context(), key[:8], "alice", &out); err != nil {
		t.Fatal(err)
	}
	h.clock.Set(escStart.Add(5 * time.Minute))
	if err := c.Acknowledge(t.Context(), key[:8], "alice", &out); err != nil {
		t.Fatalf("alice again: %v", err)
	}
	err := c.Acknowledge(t.Context(), key, "bob", &out)
	wantErr := "receiver answered 409: incident " + key[:8] + " was already acknowledged by alice at 2026-03-10T08:50:00Z"
	if err == nil || err.Error() != wantErr {
		t.Errorf("bob: %v, want %s", err, wantErr)
	}
	want := "incident " + key[:8] + " acknowledged by alice\n" +
		"incident " + key[:8] + " was already acknowledged by alice at 2026-03-10T08:50:00Z: nothing changed\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	// One acknowledgement reached the channel, and one time to
	// acknowledge was counted.
	if got := h.awaitSlack(t, 2); len(got) != 2 || got[1] != "acknowledged by alice" {
		t.Errorf("Slack messages: %q, want the trigger and one acknowledgement", got)
	}
	if n := timeToAckCount(t, h.reg, "critical"); n != 1 {
		t.Errorf("time to acknowledge counted %d times, want 1", n)
	}
}

// TestStatusPageAckedBySomeoneElse: the status page tells a second
// acknowledger who has the incident; the first acknowledger acking again
// is told it is done.
func TestStatusPageAckedBySomeoneElse(t *testing.T) {
	fake := slacktest.NewServer()
	defer fake.Close()
	h := newEscHarness(t, t.TempDir(), fake, fake.NewWebhook(), escStart)
	key := h.post(t, firing("a"))
	src := &statusSource{incidents: h.svc.Incidents, current: h.svc.Config}
	if err := src.Ack(t.Context(), key, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := src.Ack(t.Context(), key, "alice"); err != nil {
		t.Errorf("alice again: %v, want nil", err)
	}
	if err := src.Ack(t.Context(), key, "bob"); !errors.Is(err, incident.ErrAcknowledged) || !strings.Contains(err.Error(), "acknowledged by alice") {
		t.Errorf("bob: %v, want incident.ErrAcknowledged naming alice", err)
	}
}

// timeToAckCount is how many times to acknowledge reg holds for route.
func timeToAckCount(t *testing.T, reg prometheus.Gatherer, route string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "klaxon_receiver_time_to_acknowledge_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

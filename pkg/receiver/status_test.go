package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	commoncfg "github.com/prometheus/common/config"

	"github.com/klaxonhq/klaxon/internal/receivertest"
	"github.com/klaxonhq/klaxon/pkg/acklink"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// statusSecret is the ack_secret of the status page tests.
const statusSecret = "status-page-secret-0123456789abcdefghij"

// recordingAcks is the incident manager, recording who acknowledged an
// incident it found open.
type recordingAcks struct {
	*incident.Manager

	mu    sync.Mutex
	calls []string
}

func (r *recordingAcks) AcknowledgeOpen(ctx context.Context, id, by string) error {
	err := r.Manager.AcknowledgeOpen(ctx, id, by)
	if err == nil || errors.Is(err, incident.ErrAcknowledged) {
		r.mu.Lock()
		r.calls = append(r.calls, by)
		r.mu.Unlock()
	}
	return err
}

func (r *recordingAcks) ackedBy() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.calls...)
}

// statusFixture is a status page over a real store, at aliceWeek.
type statusFixture struct {
	rt   *receiverconfig.Runtime
	st   *sqlite.Store
	ack  *recordingAcks
	page http.Handler
	logs *bytes.Buffer
	// bodies are every response body the page gave.
	bodies []string
}

// newStatusFixture builds testdata/oncall.yml with the given ack_secret
// ("" for none) and its status page.
func newStatusFixture(t *testing.T, secret string) *statusFixture {
	t.Helper()
	slackFake := slacktest.NewServer()
	t.Cleanup(slackFake.Close)
	discordFake := discordtest.NewServer()
	t.Cleanup(discordFake.Close)
	f := &statusFixture{logs: &bytes.Buffer{}}
	f.rt = onCallRuntime(t, slackFake.NewWebhook(), discordFake.AddWebhook("300000000000000100", "token"), aliceWeek, f.logs)
	f.rt.Config.Global.Secret = commoncfg.Secret(secret)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "klaxon.db"), sqlite.Options{Now: func() time.Time { return aliceWeek }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f.st = st
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.ack = &recordingAcks{Manager: receivertest.NewManager(t, st, fixedConfig{f.rt}, logger)}
	f.page, err = NewStatusPage(fixedConfig{f.rt}, st, f.ack, StatusOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// openIncident ingests testdata/payload-firing.json on route critical and
// starts its escalation with UpdateEscalation; it returns the incident key.
func (f *statusFixture) openIncident(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	msg := readMessage(t, "payload-firing.json")
	payload, err := msg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	key := alert.IncidentKey("critical", msg.GroupKey)
	_, err = f.st.Ingest(ctx, &store.Ingest{
		Route: "critical", IncidentKey: key, GroupKey: msg.GroupKey, StateHash: msg.StateHash(),
		Status: msg.Status, Kind: string(notify.KindTrigger), Payload: payload, ReceivedAt: aliceWeek,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.rt.Config.EscalationPolicies.Get("default")
	err = f.st.UpdateEscalation(ctx, key, func(cur *store.Escalation) (*store.EscalationChange, error) {
		s, _ := escalation.Start(p, aliceWeek, []string{msg.Alerts[0].Fingerprint})
		state, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		at, _ := s.Next()
		return &store.EscalationChange{Route: "critical", Policy: "default", State: state, NextAt: at}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// do serves a request and returns the response and its body.
func (f *statusFixture) do(t *testing.T, r *http.Request) (*http.Response, string) {
	t.Helper()
	w := httptest.NewRecorder()
	f.page.ServeHTTP(w, r)
	body := w.Body.String()
	f.bodies = append(f.bodies, body)
	return w.Result(), body
}

// state is the incident's escalation state as stored.
func (f *statusFixture) state(t *testing.T, key string) escalation.State {
	t.Helper()
	rows, err := f.st.OpenEscalations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rows {
		if e.IncidentKey == key {
			var s escalation.State
			if err := json.Unmarshal(e.State, &s); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatalf("no escalation for incident %s", key)
	return escalation.State{}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestStatusPage(t *testing.T) {
	f := newStatusFixture(t, statusSecret)
	key := f.openIncident(t)

	res, body := f.do(t, httptest.NewRequest(http.MethodGet, "/", nil))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200:\n%s", res.StatusCode, body)
	}
	for _, want := range []string{
		"HighErrorRate: api error ratio above 5%", // title
		"critical",
		`href="http://localhost:9848/runbooks/higherrorrate"`, // runbook resolved
		"alice", // paged now, and on call
		"/incidents/" + key + "/ack",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q:\n%s", want, body)
		}
	}
	inc, err := f.page.(*statusPage).src.Incidents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []incident.Incident{{
		ID: key, Route: "critical", Title: "HighErrorRate: api error ratio above 5%", Severity: "critical",
		Status: incident.StatusFiring, Started: aliceWeek, Level: 1, Paged: []string{"alice"},
		Alerts: []incident.Alert{{Name: "HighErrorRate", Summary: "api error ratio above 5%", RunbookURL: "http://localhost:9848/runbooks/higherrorrate"}},
	}}
	if diff := cmp.Diff(want, inc); diff != "" {
		t.Errorf("incidents (-want +got):\n%s", diff)
	}

	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	form := url.Values{"csrf": {m[1]}, "name": {"Carol"}}
	r := httptest.NewRequest(http.MethodPost, "/incidents/"+key+"/ack", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range res.Cookies() {
		r.AddCookie(c)
	}
	res, body = f.do(t, r)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST ack = %d, want 303:\n%s", res.StatusCode, body)
	}
	if diff := cmp.Diff([]string{"Carol"}, f.ack.ackedBy()); diff != "" {
		t.Errorf("acknowledgements (-want +got):\n%s", diff)
	}
	if s := f.state(t, key); s.AckedBy != "Carol" || !s.AckedAt.Equal(aliceWeek) {
		t.Errorf("stored state acked by %q at %v, want Carol at %v", s.AckedBy, s.AckedAt, aliceWeek)
	}
	_, body = f.do(t, httptest.NewRequest(http.MethodGet, "/", nil))
	if !strings.Contains(body, "Carol") || strings.Contains(body, "/incidents/"+key+"/ack") {
		t.Errorf("after the ack, the page should name Carol and offer no Acknowledge button:\n%s", body)
	}
}

func TestStatusPageAckUnknownIncident(t *testing.T) {
	f := newStatusFixture(t, statusSecret)
	// A page without incidents has no form, so take the CSRF token from
	// a page that has one.
	f.openIncident(t)
	res, body := f.do(t, httptest.NewRequest(http.MethodGet, "/", nil))
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	form := url.Values{"csrf": {m[1]}}
	r := httptest.NewRequest(http.MethodPost, "/incidents/no-such-incident/ack", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range res.Cookies() {
		r.AddCookie(c)
	}
	if res, body = f.do(t, r); res.StatusCode != http.StatusNotFound {
		t.Errorf("ack of an unknown incident = %d, want 404:\n%s", res.StatusCode, body)
	}
	if got := f.ack.ackedBy(); len(got) != 0 {
		t.Errorf("the Acknowledger was called for an unknown incident: %q", got)
	}
}

func TestAckLink(t *testing.T) {
	f := newStatusFixture(t, statusSecret)
	key := f.openIncident(t)
	n := &notify.Notification{Channel: "slack", Route: "critical", IncidentKey: key, Kind: notify.KindTrigger}
	f.ack.AddAckURL(n)
	const prefix = "http://localhost:9848/ack/"
	if !strings.HasPrefix(n.AckURL, prefix) {
		t.Fatalf("AckURL = %q, want it below %s", n.AckURL, prefix)
	}
	token := strings.TrimPrefix(n.AckURL, prefix)
	signer, err := f.rt.AckSigner()
	if err != nil {
		t.Fatal(err)
	}
	claims, err := signer.VerifyAction(token, acklink.ActionAck, aliceWeek)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Incident != key || !claims.Expires.Equal(aliceWeek.Add(acklink.DefaultLifetime)) {
		t.Errorf("link claims incident %s until %v, want %s until %v", claims.Incident, claims.Expires, key, aliceWeek.Add(acklink.DefaultLifetime))
	}

	path := "/ack/" + token
	if res, body := f.do(t, httptest.NewRequest(http.MethodGet, path, nil)); res.StatusCode != http.StatusOK {
		t.Errorf("GET link = %d, want 200:\n%s", res.StatusCode, body)
	}
	if s := f.state(t, key); s.Acked() {
		t.Fatalf("GET of the link acknowledged (by %q)", s.AckedBy)
	}
	var codes []int
	for range 2 {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader("name=Dana"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, _ := f.do(t, r)
		codes = append(codes, res.StatusCode)
	}
	if diff := cmp.Diff([]int{http.StatusOK, http.StatusConflict}, codes); diff != "" {
		t.Errorf("first and second use of the link (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Dana"}, f.ack.ackedBy()); diff != "" {
		t.Errorf("acknowledgements (-want +got):\n%s", diff)
	}
	if s := f.state(t, key); s.AckedBy != "Dana" {
		t.Errorf("stored state acked by %q, want Dana", s.AckedBy)
	}
}

func TestAddAckURL(t *testing.T) {
	f := newStatusFixture(t, statusSecret)
	for _, tc := range []struct {
		name, channel, route string
		kind                 notify.Kind
		link                 bool
	}{
		{"slack trigger", "slack", "critical", notify.KindTrigger, true},
		{"discord escalate", "discord", "critical", notify.KindEscalate, true},
		{"pagerduty escalates by itself", "pagerduty", "critical", notify.KindTrigger, false},
		{"route without a policy", "slack", "warning", notify.KindTrigger, false},
		{"resolve", "slack", "critical", notify.KindResolve, false},
		{"acknowledged", "slack", "critical", notify.KindAcknowledged, false},
		{"test", "slack", "critical", notify.KindTest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &notify.Notification{Channel: tc.channel, Route: tc.route, IncidentKey: "k", Kind: tc.kind}
			f.ack.AddAckURL(n)
			if got := n.AckURL != ""; got != tc.link {
				t.Errorf("AckURL = %q; want a link: %v", n.AckURL, tc.link)
			}
		})
	}
	n := &notify.Notification{Channel: "slack", Route: "critical", IncidentKey: "k", Kind: notify.KindEscalate, AckURL: "https://kept.example/"}
	f.ack.AddAckURL(n)
	if n.AckURL != "https://kept.example/" {
		t.Errorf("an envelope's link was replaced by %q", n.AckURL)
	}
}

func TestAckLinkGeneratedKey(t *testing.T) {
	f := newStatusFixture(t, "")
	if !strings.Contains(f.logs.String(), "stop working when the receiver restarts") {
		t.Errorf("no warning about the generated key:\n%s", f.logs)
	}
	key := f.openIncident(t)
	link, err := f.rt.AckURL(key, aliceWeek)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, strings.TrimPrefix(link, "http://localhost:9848"), nil)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, body := f.do(t, r); res.StatusCode != http.StatusOK {
		t.Errorf("POST link signed with the generated key = %d, want 200:\n%s", res.StatusCode, body)
	}
	if s := f.state(t, key); s.AckedBy != "link" {
		t.Errorf("stored state acked by %q, want link", s.AckedBy)
	}
}

// TestStatusPageKeyChange: after a reload with another key, links signed
// before are refused, and new ones work.
func TestStatusPageKeyChange(t *testing.T) {
	f := newStatusFixture(t, statusSecret)
	key := f.openIncident(t)
	var cur receivertest.Current
	cur.Store(f.rt)
	page, err := NewStatusPage(&cur, f.st, f.ack, StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.page = page
	old, err := f.rt.AckURL(key, aliceWeek)
	if err != nil {
		t.Fatal(err)
	}
	reloaded := *f.rt
	cfg := *f.rt.Config
	cfg.Global.Secret = statusSecret + "-rotated"
	reloaded.Config = &cfg
	cur.Store(&reloaded)
	fresh, err := reloaded.AckURL(key, aliceWeek)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	for _, link := range []string{old, fresh} {
		r := httptest.NewRequest(http.MethodGet, strings.TrimPrefix(link, "http://localhost:9848"), nil)
		res, _ := f.do(t, r)
		codes = append(codes, res.StatusCode)
	}
	if diff := cmp.Diff([]int{http.StatusBadRequest, http.StatusOK}, codes); diff != "" {
		t.Errorf("old and new link after the key changed (-want +got):\n%s", diff)
	}
}

func TestStatusPageNoSecrets(t *testing.T) {
	f := newStatusFixture(t, statusSecret)
	key := f.openIncident(t)
	link, err := f.rt.AckURL(key, aliceWeek)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(link, "http://localhost:9848")
	f.do(t, httptest.NewRequest(http.MethodGet, "/", nil))
	f.do(t, httptest.NewRequest(http.MethodGet, path, nil))
	for range 2 {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader("name=Eve"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		f.do(t, r)
	}
	f.do(t, httptest.NewRequest(http.MethodGet, "/ack/forged", nil))
	f.ack.AddAckURL(&notify.Notification{Channel: "slack", Route: "critical", IncidentKey: key, Kind: notify.KindTrigger})

	// A key file that cannot be used: its error must not quote the key.
	file := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(file, []byte("short-"+statusSecret[:10]), 0o600); err != nil {
		t.Fatal(err)
	}
	f.rt.Config.Global.Secret, f.rt.Config.Global.SecretFile = "", file
	_, keyErr := f.rt.AckURL(key, aliceWeek)
	f.ack.AddAckURL(&notify.Notification{Channel: "slack", Route: "critical", IncidentKey: key, Kind: notify.KindTrigger})
	f.do(t, httptest.NewRequest(http.MethodGet, "/", nil))

	text := strings.Join(append(f.bodies, f.logs.String(), fmt.Sprint(keyErr)), "\n")
	for _, secret := range []string{statusSecret, statusSecret[:10]} {
		if strings.Contains(text, secret) {
			t.Errorf("the ack secret %q appears in pages, logs or errors:\n%s", secret, text)
		}
	}
	if keyErr == nil {
		t.Error("a short ack_secret_file was used")
	}
}

func TestAckSecretConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yml, err string
	}{
		{"both", "global:\n  ack_secret: " + statusSecret + "\n  ack_secret_file: key\n",
			"x.yml:3: at most one of ack_secret, ack_secret_file and ack_secret_env may be set"},
		{"short", "global:\n  external_url: http://localhost/\n  ack_secret: 12345\n",
			"x.yml:3: ack_secret must be at least 32 bytes, it has 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := receiverconfig.Parse("x.yml", []byte(tc.yml))
			if err == nil {
				t.Fatal("config accepted")
			}
			if diff := cmp.Diff(tc.err, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAckSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("key", "  "+statusSecret+"\n")
	write("short", "12345\n")
	for _, tc := range []struct {
		name, file, err string
	}{
		{"good", "key", ""},
		{"missing", "missing", "global: reading ack_secret_file: open " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{"short", "short", "global: ack_secret_file " + filepath.Join(dir, "short") + " must hold at least 32 bytes, it has 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The path is relative to the config file.
			conf := write(tc.name+".yml", "global:\n  ack_secret_file: "+tc.file+"\n")
			c, err := receiverconfig.LoadFile(conf)
			if tc.err != "" {
				if err == nil {
					t.Fatal("config accepted")
				}
				if diff := cmp.Diff(conf+":2: "+tc.err, err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			key, err := c.AckKey()
			if err != nil {
				t.Fatal(err)
			}
			if string(key) != statusSecret {
				t.Errorf("AckKey is not the file's trimmed content")
			}
		})
	}
}

func TestAckKeyNone(t *testing.T) {
	c, err := receiverconfig.Parse("x.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.AckKey()
	if key != nil || err != nil {
		t.Errorf("AckKey without a secret = %d bytes, %v; want none", len(key), err)
	}
	rt := &receiverconfig.Runtime{Config: c}
	a, errA := rt.AckSigner()
	b, errB := rt.AckSigner()
	if err := errors.Join(errA, errB); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Key, b.Key) || len(a.Key) != acklink.MinKeySize {
		t.Error("without a secret, the signer should keep one generated key of MinKeySize bytes")
	}
}

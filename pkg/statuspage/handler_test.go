package statuspage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/acklink"
	"github.com/klaxonhq/klaxon/pkg/incident"
)

func TestStatusPageGolden(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*fakeSource)
		code   int
		golden string
	}{
		{"full", func(*fakeSource) {}, http.StatusOK, "status.html"},
		{"empty", func(s *fakeSource) { s.incidents, s.oncall = nil, nil }, http.StatusOK, "status-empty.html"},
		{"failing", func(s *fakeSource) { s.incidentsErr, s.oncallErr = errBroken, errBroken }, http.StatusServiceUnavailable, "status-failing.html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			tt.setup(f.src)
			rec := f.do(http.MethodGet, "/", nil, sessionCookie)
			if rec.Code != tt.code {
				t.Errorf("status = %d, want %d", rec.Code, tt.code)
			}
			if got := rec.Header().Get("Set-Cookie"); got != "" {
				t.Errorf("Set-Cookie = %q with a valid session cookie", got)
			}
			testkit.Golden(t, filepath.Join("testdata", "golden", tt.golden), rec.Body.String())
		})
	}
}

// The page is asked who is on call now, by the handler's clock.
func TestStatusPageAsksOnCallNow(t *testing.T) {
	f := newFixture(t, Options{})
	f.do(http.MethodGet, "/", nil)
	if diff := cmp.Diff([]time.Time{testNow}, f.src.onCallAt); diff != "" {
		t.Errorf("OnCall times (-want +got):\n%s", diff)
	}
}

func TestStatusPageShowsTimesInLocation(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		testenv.Missing(t, "no time zone database: %v", err)
	}
	f := newFixture(t, Options{Location: loc})
	body := f.do(http.MethodGet, "/", nil).Body.String()
	if want := "Updated Sat 14 Mar 10:30 CET."; !strings.Contains(body, want) {
		t.Errorf("page lacks %q", want)
	}
}

func TestHeaders(t *testing.T) {
	f := newFixture(t, Options{})
	token := f.token(diskID, testNow.Add(time.Hour))
	for _, target := range []string{"/", "/ack/" + token, "/ack/bad"} {
		rec := f.do(http.MethodGet, target, nil)
		hdr := rec.Header()
		want := map[string]string{
			"Content-Type":           "text/html; charset=utf-8",
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"Cache-Control":          "no-store",
		}
		for k, v := range want {
			if got := hdr.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", target, k, got, v)
			}
		}
		csp := hdr.Get("Content-Security-Policy")
		style := regexp.MustCompile(`(?s)<style>(.*)</style>`).FindStringSubmatch(rec.Body.String())
		if style == nil {
			t.Fatalf("%s: no <style> in the page", target)
		}
		sum := sha256.Sum256([]byte(style[1]))
		wantCSP := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
			"'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
		if csp != wantCSP {
			t.Errorf("%s: Content-Security-Policy = %q, want %q", target, csp, wantCSP)
		}
		if strings.Contains(rec.Body.String(), "<script") {
			t.Errorf("%s: the page has a script element", target)
		}
	}
}

func TestMethods(t *testing.T) {
	f := newFixture(t, Options{})
	token := f.token(diskID, testNow.Add(time.Hour))
	tests := []struct {
		method, target string
		code           int
		allow          string
	}{
		{http.MethodHead, "/", http.StatusOK, ""},
		{http.MethodHead, "/ack/" + token, http.StatusOK, ""},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodDelete, "/", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodGet, "/incidents/" + diskID + "/ack", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPut, "/ack/" + token, http.StatusMethodNotAllowed, "GET, HEAD, POST"},
		{http.MethodGet, "/nowhere", http.StatusNotFound, ""},
		{http.MethodGet, "/ack/", http.StatusNotFound, ""},
		{http.MethodPost, "/incidents/" + diskID, http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		rec := f.do(tt.method, tt.target, nil)
		if rec.Code != tt.code {
			t.Errorf("%s %s: status = %d, want %d", tt.method, tt.target, rec.Code, tt.code)
		}
		if got := rec.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.target, got, tt.allow)
		}
		if tt.method == http.MethodHead && rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d bytes of body", tt.target, rec.Body.Len())
		}
	}
	if acks := f.src.Acks(); len(acks) != 0 {
		t.Errorf("acknowledged %v", acks)
	}
}

func TestCSRFCookie(t *testing.T) {
	tests := []struct {
		name, external string
		cookies        []*http.Cookie
		want           string // the Set-Cookie header without its value
	}{
		{"none", "", nil, "klaxon_csrf=; Path=/; HttpOnly; SameSite=Lax"},
		{"malformed", "", []*http.Cookie{{Name: csrfCookie, Value: "short"}}, "klaxon_csrf=; Path=/; HttpOnly; SameSite=Lax"},
		{"https prefix", "https://klaxon.example.com/k", nil, "klaxon_csrf=; Path=/k/; HttpOnly; Secure; SameSite=Lax"},
		{"valid", "", []*http.Cookie{sessionCookie}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts Options
			target := "/"
			if tt.external != "" {
				u, _ := url.Parse(tt.external)
				opts.ExternalURL, target = u, "/k/"
			}
			f := newFixture(t, opts)
			rec := f.do(http.MethodGet, target, nil, tt.cookies...)
			set := rec.Header().Get("Set-Cookie")
			value := regexp.MustCompile(`^klaxon_csrf=([A-Za-z0-9_-]{43});`).FindStringSubmatch(set)
			if tt.want == "" {
				if set != "" {
					t.Errorf("Set-Cookie = %q, want none", set)
				}
				value = []string{"", testSession}
			} else if value == nil || strings.Replace(set, value[1], "", 1) != tt.want {
				t.Fatalf("Set-Cookie = %q, want %q with a 43-character value", set, tt.want)
			}
			// The page's forms carry the token of the cookie in use.
			if got, want := csrfOf(t, rec.Body.String()), f.h.(*handler).csrfToken(value[1]); got != want {
				t.Errorf("form token = %q, want %q", got, want)
			}
		})
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf is the CSRF token of the first form in body.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

// ackViaPage loads the status page as a browser would, keeping its cookie,
// and posts the acknowledge form of incident id with name.
func ackViaPage(t *testing.T, f *fixture, id, name string) (status int, location string) {
	t.Helper()
	page := f.do(http.MethodGet, "/", nil)
	cookie := page.Result().Cookies()[0]
	action := "/incidents/" + url.PathEscape(id) + "/ack"
	if !strings.Contains(page.Body.String(), `action="`+html.EscapeString(action)+`"`) {
		t.Fatalf("the page has no form with action %q", action)
	}
	form := url.Values{"csrf": {csrfOf(t, page.Body.String())}, "name": {name}}
	rec := f.do(http.MethodPost, action, form, cookie)
	return rec.Code, rec.Header().Get("Location")
}

func TestFormAck(t *testing.T) {
	tests := []struct {
		name, incident, input, by string
	}{
		{"named", diskID, "alice", "alice"},
		{"anonymous", diskID, "  ", "someone"},
		{"odd id", oddID, "bob", "bob"},
		{"cleaned", diskID, "eve\n\x00\u202e " + strings.Repeat("é", 80), "eve " + strings.Repeat("é", 60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			code, location := ackViaPage(t, f, tt.incident, tt.input)
			if code != http.StatusSeeOther || location != "/" {
				t.Errorf("response = %d to %q, want 303 to /", code, location)
			}
			if diff := cmp.Diff([]ackCall{{tt.incident, tt.by}}, f.src.Acks()); diff != "" {
				t.Errorf("acks (-want +got):\n%s", diff)
			}
			body := f.do(http.MethodGet, "/", nil, sessionCookie).Body.String()
			if want := "Acknowledged by " + html.EscapeString(tt.by); !strings.Contains(body, want) {
				t.Errorf("the page does not say %q", want)
			}
		})
	}
}

func TestFormAckWithPrefix(t *testing.T) {
	u, _ := url.Parse("https://klaxon.example.com/k/")
	f := newFixture(t, Options{ExternalURL: u})
	page := f.do(http.MethodGet, "/k/", nil)
	form := url.Values{"csrf": {csrfOf(t, page.Body.String())}}
	rec := f.do(http.MethodPost, "/k/incidents/"+diskID+"/ack", form, page.Result().Cookies()[0])
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/k/" {
		t.Errorf("response = %d to %q, want 303 to /k/", rec.Code, rec.Header().Get("Location"))
	}
	if got := f.do(http.MethodGet, "/", nil).Code; got != http.StatusNotFound {
		t.Errorf("GET / = %d outside the prefix, want 404", got)
	}
}

func TestFormAckCSRFRefused(t *testing.T) {
	f := newFixture(t, Options{})
	good := f.h.(*handler).csrfToken(testSession)
	other := &http.Cookie{Name: csrfCookie, Value: strings.Repeat("B", 42) + "E"}
	tests := []struct {
		name    string
		form    url.Values
		cookies []*http.Cookie
	}{
		{"no cookie", url.Values{"csrf": {good}}, nil},
		{"no token", url.Values{"name": {"mallory"}}, []*http.Cookie{sessionCookie}},
		{"empty token", url.Values{"csrf": {""}}, []*http.Cookie{sessionCookie}},
		{"wrong token", url.Values{"csrf": {strings.Repeat("x", 43)}}, []*http.Cookie{sessionCookie}},
		{"another session's token", url.Values{"csrf": {good}}, []*http.Cookie{other}},
		{"malformed cookie", url.Values{"csrf": {f.h.(*handler).csrfToken("x")}}, []*http.Cookie{{Name: csrfCookie, Value: "x"}}},
		{"token in the query only", nil, []*http.Cookie{sessionCookie}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "/incidents/" + diskID + "/ack"
			if tt.form == nil {
				target += "?csrf=" + url.QueryEscape(good)
				tt.form = url.Values{}
			}
			rec := f.do(http.MethodPost, target, tt.form, tt.cookies...)
			checkStatus(t, rec, http.StatusForbidden, "Form expired")
		})
	}
	if acks := f.src.Acks(); len(acks) != 0 {
		t.Errorf("acknowledged %v", acks)
	}
}

func TestFormAckFailures(t *testing.T) {
	form := func(f *fixture) url.Values {
		return url.Values{"csrf": {f.h.(*handler).csrfToken(testSession)}}
	}
	t.Run("not open", func(t *testing.T) {
		f := newFixture(t, Options{})
		for _, id := range []string{goneID, "unknown"} {
			rec := f.do(http.MethodPost, "/incidents/"+id+"/ack", form(f), sessionCookie)
			checkStatus(t, rec, http.StatusNotFound, "Incident not open")
		}
	})
	t.Run("source fails", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.src.ackErr = errBroken
		rec := f.do(http.MethodPost, "/incidents/"+diskID+"/ack", form(f), sessionCookie)
		checkStatus(t, rec, http.StatusServiceUnavailable, "Not acknowledged")
	})
	t.Run("acknowledged by someone else", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.src.ackErr = fmt.Errorf("incident %s: %w", latencyID, incident.ErrAcknowledged)
		rec := f.do(http.MethodPost, "/incidents/"+latencyID+"/ack", form(f), sessionCookie)
		checkStatus(t, rec, http.StatusConflict, "Already acknowledged")
		if want := "This incident was already acknowledged by carol (Sat 14 Mar 08:00 UTC). Nothing changed."; !strings.Contains(rec.Body.String(), want) {
			t.Errorf("page lacks %q:\n%s", want, rec.Body)
		}
	})
	t.Run("form too big", func(t *testing.T) {
		f := newFixture(t, Options{})
		big := form(f)
		big.Set("name", strings.Repeat("a", maxFormBytes))
		rec := f.do(http.MethodPost, "/incidents/"+diskID+"/ack", big, sessionCookie)
		checkStatus(t, rec, http.StatusBadRequest, "Bad request")
		if acks := f.src.Acks(); len(acks) != 0 {
			t.Errorf("acknowledged %v", acks)
		}
	})
}

func TestLinkGetNeverAcks(t *testing.T) {
	f := newFixture(t, Options{})
	token := f.token(diskID, testNow.Add(time.Hour))
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodGet} {
		rec := f.do(method, "/ack/"+token, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status = %d, want 200", method, rec.Code)
		}
		if method == http.MethodGet && title(rec.Body.String()) != "Acknowledge this incident?" {
			t.Errorf("GET: title = %q", title(rec.Body.String()))
		}
	}
	if acks := f.src.Acks(); len(acks) != 0 {
		t.Errorf("GET acknowledged %v", acks)
	}
	// Looking did not use the link up.
	rec := f.do(http.MethodPost, "/ack/"+token, url.Values{})
	checkStatus(t, rec, http.StatusOK, "Acknowledged")
}

func TestLinkConfirmGolden(t *testing.T) {
	f := newFixture(t, Options{})
	token := f.signer.Sign(diskID, acklink.ActionAck, testNow.Add(24*time.Hour), acklink.Nonce{})
	rec := f.do(http.MethodGet, "/ack/"+token, nil)
	if rec.Code != http.StatusOK {
		t.Errorf("status = %d, want 200", rec.Code)
	}
	if strings.Contains(rec.Body.String(), token) {
		t.Error("the page repeats the token")
	}
	testkit.Golden(t, filepath.Join("testdata", "golden", "confirm.html"), rec.Body.String())
}

func TestLinkAckOnce(t *testing.T) {
	f := newFixture(t, Options{})
	token := f.signer.Sign(diskID, acklink.ActionAck, testNow.Add(time.Hour), acklink.Nonce{})
	rec := f.do(http.MethodPost, "/ack/"+token, url.Values{"name": {"dave"}})
	if rec.Code != http.StatusOK {
		t.Errorf("status = %d, want 200", rec.Code)
	}
	testkit.Golden(t, filepath.Join("testdata", "golden", "acknowledged.html"), rec.Body.String())

	replay := f.do(http.MethodPost, "/ack/"+token, url.Values{"name": {"mallory"}})
	checkStatus(t, replay, http.StatusConflict, "Link already used")
	if !strings.Contains(replay.Body.String(), "This link was already used.") {
		t.Errorf("the replay page does not say the link was used:\n%s", replay.Body)
	}
	if diff := cmp.Diff([]ackCall{{diskID, "dave"}}, f.src.Acks()); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
}

func TestLinkAckDefaultName(t *testing.T) {
	f := newFixture(t, Options{})
	rec := f.do(http.MethodPost, "/ack/"+f.token(latencyID, testNow.Add(time.Hour)), url.Values{})
	checkStatus(t, rec, http.StatusOK, "Acknowledged")
	if diff := cmp.Diff([]ackCall{{latencyID, "link"}}, f.src.Acks()); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
}

func TestLinkRefused(t *testing.T) {
	f := newFixture(t, Options{})
	good := f.token(diskID, testNow.Add(time.Hour))
	flipped := []byte(good)
	flipped[10] ^= 'A' ^ 'B'
	other := &acklink.Signer{Key: []byte("another key of thirty-two bytes!")}
	tests := []struct {
		name, token string
		code        int
		title       string
	}{
		{"tampered", string(flipped), http.StatusBadRequest, "Invalid link"},
		{"cut short", good[:len(good)-5], http.StatusBadRequest, "Invalid link"},
		{"garbage", "not-a-token", http.StatusBadRequest, "Invalid link"},
		{"escaped garbage", "%00%ff%3Cb%3E", http.StatusBadRequest, "Invalid link"},
		{"other key", other.Sign(diskID, acklink.ActionAck, testNow.Add(time.Hour), acklink.NewNonce()), http.StatusBadRequest, "Invalid link"},
		{"other action", f.signer.Sign(diskID, "resolve", testNow.Add(time.Hour), acklink.NewNonce()), http.StatusBadRequest, "Invalid link"},
		{"expired", f.token(diskID, testNow), http.StatusGone, "Link expired"},
		{"long expired", f.token(diskID, testNow.Add(-30*24*time.Hour)), http.StatusGone, "Link expired"},
		{"resolved incident", f.token(goneID, testNow.Add(time.Hour)), http.StatusNotFound, "Incident not open"},
		{"unknown incident", f.token("unknown", testNow.Add(time.Hour)), http.StatusNotFound, "Incident not open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				var form url.Values
				if method == http.MethodPost {
					form = url.Values{"name": {"mallory"}}
				}
				rec := f.do(method, "/ack/"+tt.token, form)
				checkStatus(t, rec, tt.code, tt.title)
			}
		})
	}
	if acks := f.src.Acks(); len(acks) != 0 {
		t.Errorf("acknowledged %v", acks)
	}
}

func TestLinkMisconfiguredKey(t *testing.T) {
	src := newFakeSource()
	h := New(src, &acklink.Signer{}, &acklink.MemoryNonces{}, Options{Logger: promslog.NewNopLogger()})
	f := &fixture{src: src, h: h}
	checkStatus(t, f.do(http.MethodGet, "/ack/anything", nil), http.StatusInternalServerError, "Links unavailable")
}

type failingNonces struct{}

func (failingNonces) Use(ctx context.Context, nonce string, until time.Time) (bool, error) {
	return false, errBroken
}

func TestLinkFailures(t *testing.T) {
	t.Run("nonces fail", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.h = New(f.src, f.signer, failingNonces{}, Options{Now: func() time.Time { return testNow }, Logger: promslog.NewNopLogger()})
		rec := f.do(http.MethodPost, "/ack/"+f.token(diskID, testNow.Add(time.Hour)), url.Values{})
		checkStatus(t, rec, http.StatusServiceUnavailable, "Not acknowledged")
		if acks := f.src.Acks(); len(acks) != 0 {
			t.Errorf("acknowledged %v", acks)
		}
	})
	t.Run("incidents fail", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.src.incidentsErr = errBroken
		rec := f.do(http.MethodGet, "/ack/"+f.token(diskID, testNow.Add(time.Hour)), nil)
		checkStatus(t, rec, http.StatusServiceUnavailable, "Status unavailable")
	})
	t.Run("ack fails", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.src.ackErr = errBroken
		rec := f.do(http.MethodPost, "/ack/"+f.token(diskID, testNow.Add(time.Hour)), url.Values{})
		checkStatus(t, rec, http.StatusServiceUnavailable, "Not acknowledged")
	})
}

func TestAckURL(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		base, prefix string
	}{
		{"https://klaxon.example.com", "https://klaxon.example.com/ack/"},
		{"https://klaxon.example.com/k/", "https://klaxon.example.com/k/ack/"},
		{"", "/ack/"},
	}
	for _, tt := range tests {
		var base *url.URL
		if tt.base != "" {
			base, _ = url.Parse(tt.base)
		}
		link := f.signer.URL(base, diskID, testNow.Add(time.Hour))
		token, ok := strings.CutPrefix(link, tt.prefix)
		if !ok {
			t.Errorf("AckURL(%q) = %q, want a URL under %s", tt.base, link, tt.prefix)
			continue
		}
		claims, err := f.signer.VerifyAction(token, acklink.ActionAck, testNow)
		if err != nil {
			t.Errorf("AckURL(%q): %v", tt.base, err)
		}
		if claims.Incident != diskID || !claims.Expires.Equal(testNow.Add(time.Hour)) {
			t.Errorf("AckURL(%q): claims %+v", tt.base, claims)
		}
	}
	a := f.signer.URL(nil, diskID, testNow.Add(time.Hour))
	if b := f.signer.URL(nil, diskID, testNow.Add(time.Hour)); a == b {
		t.Error("two links for one incident are equal: they need distinct nonces")
	}
}

// The key, and the tokens that grant an acknowledgement, never appear in
// logs; the key never appears in a response.
func TestSecretsNeverShown(t *testing.T) {
	var logs bytes.Buffer
	level := promslog.NewLevel()
	_ = level.Set("debug")
	logger := promslog.New(&promslog.Config{Level: level, Writer: &logs})
	f := newFixture(t, Options{Logger: logger})
	good := f.token(diskID, testNow.Add(time.Hour))
	tokens := []string{good, good, f.token(diskID, testNow), good[:30], f.signer.Sign(diskID, "resolve", testNow.Add(time.Hour), acklink.NewNonce())}
	var responses bytes.Buffer
	record := func(rec interface {
		Result() *http.Response
	}, body string) {
		_ = rec.Result().Header.Write(&responses)
		responses.WriteString(body)
	}
	for _, token := range tokens {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			rec := f.do(method, "/ack/"+token, url.Values{})
			record(rec, rec.Body.String())
		}
	}
	rec := f.do(http.MethodGet, "/", nil)
	record(rec, rec.Body.String())
	rec = f.do(http.MethodPost, "/incidents/"+latencyID+"/ack", url.Values{"csrf": {"bad"}}, sessionCookie)
	record(rec, rec.Body.String())
	f.src.ackErr = errBroken
	rec = f.do(http.MethodPost, "/ack/"+f.token(diskID, testNow.Add(time.Hour)), url.Values{})
	record(rec, rec.Body.String())

	if logs.Len() == 0 {
		t.Fatal("nothing was logged; the test would prove nothing")
	}
	encodings := []string{string(testKey), base64.StdEncoding.EncodeToString(testKey), base64.RawURLEncoding.EncodeToString(testKey)}
	for _, secret := range encodings {
		if strings.Contains(logs.String(), secret) || strings.Contains(responses.String(), secret) {
			t.Errorf("the key (as %q) leaked", secret)
		}
	}
	for _, token := range tokens {
		if strings.Contains(logs.String(), token) {
			t.Errorf("a token leaked into the logs:\n%s", logs.String())
		}
	}
}

// Whatever path a link has, the pages answer with a page, never a 500.
func FuzzLinkPages(f *testing.F) {
	fx := newFixture(f, Options{Logger: slog.New(slog.DiscardHandler)})
	f.Add(fx.token(diskID, testNow.Add(time.Hour)))
	f.Add("AQ")
	f.Add("%2e%2e")
	f.Fuzz(func(t *testing.T, token string) {
		target := "/ack/" + url.PathEscape(token)
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			rec := fx.do(method, target, url.Values{})
			if rec.Code >= 500 {
				t.Fatalf("%s %q: status %d", method, target, rec.Code)
			}
		}
	})
}

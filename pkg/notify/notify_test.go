package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
)

func TestCheckStatus(t *testing.T) {
	for _, tc := range []struct {
		code       int
		retryAfter string
		retry      bool
		after      time.Duration
		reason     string
	}{
		{200, "", false, 0, ""},
		{202, "", false, 0, ""},
		{204, "", false, 0, ""},
		{400, "", false, 0, ReasonClientError},
		{401, "", false, 0, ReasonAuthError},
		{403, "", false, 0, ReasonAuthError},
		{404, "", false, 0, ReasonClientError},
		{408, "", true, 0, ReasonServerError},
		{422, "", false, 0, ReasonClientError},
		{429, "", true, 0, ReasonRateLimited},
		{429, "7", true, 7 * time.Second, ReasonRateLimited},
		{429, "1.5", true, 1500 * time.Millisecond, ReasonRateLimited},
		{500, "", true, 0, ReasonServerError},
		{502, "", true, 0, ReasonServerError},
		{503, "30", true, 30 * time.Second, ReasonServerError},
	} {
		t.Run(fmt.Sprint(tc.code, tc.retryAfter), func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.code, Status: fmt.Sprintf("%d %s", tc.code, http.StatusText(tc.code)), Header: http.Header{}}
			if tc.retryAfter != "" {
				resp.Header.Set("Retry-After", tc.retryAfter)
			}
			err := CheckStatus(resp, []byte(`{"message":"the upstream's reason"}`))
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			retry, after, reason := Classify(err)
			if retry != tc.retry || after != tc.after || reason != tc.reason {
				t.Errorf("Classify = %t %s %s, want %t %s %s", retry, after, reason, tc.retry, tc.after, tc.reason)
			}
			if !strings.Contains(err.Error(), "the upstream's reason") {
				t.Errorf("error %q lacks the upstream's reason", err)
			}
		})
	}
}

func TestClassifyOtherErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		retry  bool
		reason string
	}{
		{errors.New("connection reset"), true, ReasonNetwork},
		{fmt.Errorf("posting: %w", context.DeadlineExceeded), true, ReasonTimeout},
		{Errorf(ReasonInvalid, "rendering template: %w", errors.New("bad")), false, ReasonInvalid},
		{fmt.Errorf("wrapped: %w", &Error{Retry: true, Reason: ReasonRateLimited, Err: errors.New("429")}), true, ReasonRateLimited},
	} {
		retry, _, reason := Classify(tc.err)
		if retry != tc.retry || reason != tc.reason {
			t.Errorf("Classify(%v) = %t %s, want %t %s", tc.err, retry, reason, tc.retry, tc.reason)
		}
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	h := http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}
	if got := RetryAfter(h, now); got != 90*time.Second {
		t.Errorf("RetryAfter = %s, want 90s", got)
	}
	h.Set("Retry-After", now.Add(-time.Minute).Format(http.TimeFormat))
	if got := RetryAfter(h, now); got != 0 {
		t.Errorf("a date in the past gives %s, want 0", got)
	}
	h.Set("Retry-After", "soon")
	if got := RetryAfter(h, now); got != 0 {
		t.Errorf("garbage gives %s, want 0", got)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"short", 10, "short", false},
		{"exactly10!", 10, "exactly10!", false},
		{"much too long", 5, "much…", true},
		{"ääääää", 3, "ää…", true},
		{"x", 0, "", true},
	} {
		got, cut := Truncate(tc.in, tc.n)
		if got != tc.want || cut != tc.cut {
			t.Errorf("Truncate(%q, %d) = %q %t, want %q %t", tc.in, tc.n, got, cut, tc.want, tc.cut)
		}
	}
}

func TestExcerpt(t *testing.T) {
	if got := Excerpt(nil); got != "(empty answer)" {
		t.Errorf("Excerpt(nil) = %q", got)
	}
	if got := Excerpt([]byte("line one\n\tline\xfftwo")); got != "line one line�two" {
		t.Errorf("Excerpt folds whitespace and repairs UTF-8: got %q", got)
	}
	if got := Excerpt([]byte(strings.Repeat("x", 2000))); len([]rune(got)) != maxErrorBody {
		t.Errorf("Excerpt kept %d runes, want %d", len([]rune(got)), maxErrorBody)
	}
}

func TestRedactURL(t *testing.T) {
	err := &url.Error{Op: "Post", URL: "https://hooks.slack.com/services/T000/B000/SECRETTOKEN", Err: errors.New("connection refused")}
	got := RedactURL(fmt.Errorf("sending: %w", err)).Error()
	if strings.Contains(got, "SECRETTOKEN") || !strings.Contains(got, "https://hooks.slack.com/<redacted>") {
		t.Errorf("RedactURL = %q", got)
	}
	plain := errors.New("no url here")
	if RedactURL(plain) != plain {
		t.Error("errors without a URL must pass unchanged")
	}
}

func TestPostJSONRedactsAndClassifies(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connection refused
	_, _, err = PostJSON(context.Background(), http.DefaultClient, "http://"+addr+"/api/webhooks/1/SECRETTOKEN", nil, map[string]string{"a": "b"})
	if err == nil || strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Fatalf("error %v must exist and hide the token", err)
	}
	if retry, _, reason := Classify(err); !retry || reason != ReasonNetwork {
		t.Errorf("refused connection: retry %t reason %s, want a retryable network error", retry, reason)
	}
}

func TestPostJSONTimeoutWithCause(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithTimeoutCause(context.Background(), 50*time.Millisecond, errors.New("configured timeout reached"))
	defer cancel()
	_, _, err := PostJSON(ctx, srv.Client(), srv.URL, nil, struct{}{})
	if retry, _, reason := Classify(err); !retry || reason != ReasonTimeout {
		t.Errorf("got %v: retry %t reason %s, want a retryable timeout", err, retry, reason)
	}
}

func TestPostJSONSendsJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Key") != "k" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"status":"success"}`)
	}))
	defer srv.Close()
	resp, body, err := PostJSON(context.Background(), srv.Client(), srv.URL, http.Header{"X-Key": {"k"}}, map[string]int{"n": 1})
	if err != nil || resp.StatusCode != http.StatusAccepted || string(body) != `{"status":"success"}` {
		t.Errorf("got %v %v %q", resp, err, body)
	}
}

func testNotification() *Notification {
	return &Notification{Kind: KindTrigger, Message: &alert.Message{
		Status:       alert.StatusFiring,
		Receiver:     "critical",
		GroupLabels:  map[string]string{"alertname": "HighErrorRate"},
		CommonLabels: map[string]string{"alertname": "HighErrorRate", "severity": "critical"},
		Alerts: []alert.Alert{
			{Status: alert.StatusFiring, Labels: map[string]string{"alertname": "HighErrorRate", "instance": "a"}},
			{Status: alert.StatusResolved, Labels: map[string]string{"alertname": "HighErrorRate", "instance": "b"}},
		},
	}}
}

func TestTemplate(t *testing.T) {
	tmpl, err := NewTemplate(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := testNotification()
	for text, want := range map[string]string{
		"":                                       "",
		`{{ template "__subject" . }}`:           "[FIRING:1] HighErrorRate (critical)",
		`{{ len .Alerts.Firing }} firing`:        "1 firing",
		`{{ .CommonLabels.severity | toUpper }}`: "CRITICAL",
		`{{ .CommonAnnotations.missing }}`:       "",
	} {
		got, err := tmpl.Execute(text, n)
		if err != nil || got != want {
			t.Errorf("Execute(%q) = %q, %v; want %q", text, got, err, want)
		}
	}
	_, err = tmpl.Execute(`{{ .Nope.Nope }}`, n)
	if retry, _, reason := Classify(err); err == nil || retry || reason != ReasonInvalid {
		t.Errorf("a failing template: %v (retry %t reason %s), want a permanent invalid error", err, retry, reason)
	}
}

func TestTemplateFiles(t *testing.T) {
	if _, err := NewTemplate([]string{"testdata/broken.tmpl"}); err == nil || !strings.Contains(err.Error(), "loading templates") {
		t.Errorf("a broken template file: %v", err)
	}
	tmpl, err := NewTemplate([]string{"testdata/*.good.tmpl"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Execute(`{{ template "team.title" . }}`, testNotification())
	if err != nil || got != "Payments: HighErrorRate" {
		t.Errorf("user template: %q %v", got, err)
	}
}

func TestSince(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	if got := Since(now.Add(-200500*time.Millisecond), now); got != "3m20s" {
		t.Errorf("Since = %q", got)
	}
	if got := Since(time.Time{}, now); got != "0s" {
		t.Errorf("Since(zero) = %q", got)
	}
}

// TestPostJSONAcceptedThenCut: an upstream that answered 2xx took the
// message even if the answer's body is cut short; a retry would post twice.
func TestPostJSONAcceptedThenCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"id":"12`)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	resp, _, err := PostJSON(context.Background(), srv.Client(), srv.URL, nil, struct{}{})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("got %v, %v: a 2xx whose body is cut short must count as delivered", resp, err)
	}
}

// TestShortIncident: a notification with an acknowledgement link names
// its incident by the short ID the commands take; one without names none.
func TestShortIncident(t *testing.T) {
	key := alert.IncidentKey("critical", "{}:{alertname=\"X\"}")
	n := &Notification{IncidentKey: key}
	if got := n.ShortIncident(); got != "" {
		t.Errorf("without an ack link: %q, want none", got)
	}
	n.AckURL = "https://klaxon.example.com/ack/t"
	if got := n.ShortIncident(); got != key[:8] || got != alert.ShortID(key) {
		t.Errorf("with an ack link: %q, want %q", got, key[:8])
	}
}

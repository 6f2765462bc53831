package webhooktest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

func post(t *testing.T, s *Server, method, path, contentType, body string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer), resp.Header
}

// TestChecks: the fake refuses each way a request can miss what it
// expects, and records only what it accepts.
func TestChecks(t *testing.T) {
	s := NewServer(Expect{Method: "POST", Path: "/hook", ContentType: "application/json", Header: map[string]string{"X-Token": "t"}})
	defer s.Close()
	good := map[string]string{"X-Token": "t"}
	for _, tc := range []struct {
		name, method, path, contentType, body string
		header                                map[string]string
		want                                  int
	}{
		{"good", "POST", "/hook", "application/json; charset=utf-8", `{"a":1}`, good, 200},
		{"method", "PUT", "/hook", "application/json", `{}`, good, 405},
		{"path", "POST", "/other", "application/json", `{}`, good, 404},
		{"content type", "POST", "/hook", "text/plain", `{}`, good, 415},
		{"not JSON", "POST", "/hook", "application/json", `{"a":`, good, 400},
		{"token", "POST", "/hook", "application/json", `{}`, map[string]string{"X-Token": "wrong"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, answer, _ := post(t, s, tc.method, tc.path, tc.contentType, tc.body, tc.header); code != tc.want {
				t.Errorf("answered %d %s, want %d", code, answer, tc.want)
			}
		})
	}
	got := s.Received()
	if len(got) != 1 || string(got[0].Body) != `{"a":1}` || s.Seen() != 6 {
		t.Errorf("accepted %+v of %d requests, want the good one of 6", got, s.Seen())
	}
}

// TestFaults: scripted faults come first, with their Retry-After.
func TestFaults(t *testing.T) {
	s := NewServer(Expect{})
	defer s.Close()
	s.FailNext(1, fakeapi.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond})
	s.FailNext(1, fakeapi.Fault{Status: 502, Body: "bad gateway"})
	code, _, h := post(t, s, "POST", "/", "application/json", `{}`, nil)
	if code != 429 || h.Get("Retry-After") != "2" {
		t.Errorf("first answer %d with Retry-After %q, want 429 after 2 (seconds, rounded up)", code, h.Get("Retry-After"))
	}
	if code, answer, _ := post(t, s, "POST", "/", "application/json", `{}`, nil); code != 502 || answer != "bad gateway" {
		t.Errorf("second answer %d %q, want 502 bad gateway", code, answer)
	}
	if code, _, _ := post(t, s, "POST", "/", "application/json", `{}`, nil); code != 200 {
		t.Errorf("third answer %d, want 200", code)
	}
}

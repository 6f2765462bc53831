package fakeapi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// faultServer answers with the scripted faults, writing the status and
// "upstream: <body>"; without a fault it answers 200 "handled".
func faultServer(t *testing.T, f *Faults) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.Answer(w, r, func(w http.ResponseWriter, f Fault) {
			w.WriteHeader(f.Status)
			_, _ = io.WriteString(w, "upstream: "+f.Body)
		}) {
			return
		}
		_, _ = io.WriteString(w, "handled")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(f.Release)
	return srv
}

type answer struct {
	Status     int
	Body       string
	RetryAfter string
	Scope      string
}

// post posts, so that the client does not retry on a dropped connection.
func post(t *testing.T, client *http.Client, url string) (answer, error) {
	t.Helper()
	resp, err := client.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, string(b), resp.Header.Get("Retry-After"), resp.Header.Get("X-Scope")}, nil
}

func TestFaults(t *testing.T) {
	var f Faults
	srv := faultServer(t, &f)
	f.FailNext(2, Fault{Status: 503, Body: "busy", RetryAfter: 1500 * time.Millisecond})
	f.FailNext(1, Fault{Status: 429, Header: http.Header{"X-Scope": {"global"}}})
	f.FailNext(1, Fault{HangUp: true})
	var got []answer
	for range 3 {
		a, err := post(t, srv.Client(), srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if _, err := post(t, srv.Client(), srv.URL); err == nil {
		t.Error("the hang-up was answered")
	}
	a, err := post(t, srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, a)
	want := []answer{
		{Status: 503, Body: "upstream: busy", RetryAfter: "2"},
		{Status: 503, Body: "upstream: busy", RetryAfter: "2"},
		{Status: 429, Body: "upstream: ", Scope: "global"},
		{Status: 200, Body: "handled"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

func TestFaultsStall(t *testing.T) {
	var f Faults
	srv := faultServer(t, &f)
	f.FailNext(1, Fault{Stall: true})
	client := &http.Client{Timeout: 50 * time.Millisecond}
	_, err := post(t, client, srv.URL)
	var timeout interface{ Timeout() bool }
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Errorf("got %v, want the client's timeout", err)
	}
	// After Release a stall ends at once, with nothing written, so that
	// Close cannot hang.
	f.Release()
	f.FailNext(1, Fault{Stall: true})
	if a, err := post(t, client, srv.URL); err != nil || a != (answer{Status: 200}) {
		t.Errorf("a released stall: %+v, %v; want an empty answer", a, err)
	}
}

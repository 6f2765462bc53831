package benchcmp

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// countingServer answers code to every post and counts them.
func countingServer(t *testing.T, code int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, &posts
}

// TestRunLoadInItsOwnProcess runs both kinds of job through a load
// generator process: every body reaches the server once, and the result
// comes back.
func TestRunLoadInItsOwnProcess(t *testing.T) {
	srv, posts := countingServer(t, http.StatusOK)
	res, err := RunLoad(t.Context(), LoadJob{URL: srv.URL, Prefix: "closed", Payloads: 30, Clients: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Throughput.Payloads != 30 || res.Throughput.Elapsed <= 0 || posts.Load() != 30 {
		t.Errorf("closed loop: result %+v, server got %d posts; want 30 payloads in a positive time, 30 posts", res.Throughput, posts.Load())
	}
	res, err = RunLoad(t.Context(), LoadJob{URL: srv.URL, Prefix: "open", Payloads: 10, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Latencies) != 10 || posts.Load() != 40 {
		t.Errorf("open loop: %d latencies, server got %d posts in all; want 10 and 40", len(res.Latencies), posts.Load())
	}
}

func TestRunLoadErrors(t *testing.T) {
	srv, _ := countingServer(t, http.StatusServiceUnavailable)
	for _, tc := range []struct {
		name string
		job  LoadJob
		want string
	}{
		{"refused posts", LoadJob{URL: srv.URL, Prefix: "x", Payloads: 4, Clients: 2}, "load generator: exit status 1: 4 of 4 posts failed"},
		{"clients and a rate", LoadJob{URL: srv.URL, Payloads: 4, Clients: 2, Rate: 10}, "load job: want either clients (2) or a rate (10)"},
		{"no payloads", LoadJob{URL: srv.URL, Clients: 2}, `load job: want a URL and payloads, got "` + srv.URL + `" and 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RunLoad(t.Context(), tc.job)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("RunLoad: %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

func TestLoadGeneratorMain(t *testing.T) {
	var out, errOut bytes.Buffer
	t.Setenv(LoadGenEnv, "")
	if _, ran := LoadGeneratorMain(t.Context(), &out, &errOut); !ran {
		t.Fatal("LoadGeneratorMain did not run with the variable set")
	}
	t.Setenv(LoadGenEnv, `{"url": "http://x", "payloads": 1, "clients": 1, "senders": 2}`)
	code, _ := LoadGeneratorMain(t.Context(), &out, &errOut)
	want := LoadGenEnv + `: json: unknown field "senders"`
	if code != 1 || !strings.Contains(errOut.String(), want) || out.Len() != 0 {
		t.Errorf("a job with an unknown key: exit %d, stderr %q, stdout %q; want 1, %q, nothing", code, errOut.String(), out.String(), want)
	}
}

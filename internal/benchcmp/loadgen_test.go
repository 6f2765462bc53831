package benchcmp

import (
	"bytes"
	"errors"
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
// generator process: the warm-up ends before warmed runs, every body
// reaches the server once, and the result comes back.
func TestRunLoadInItsOwnProcess(t *testing.T) {
	srv, posts := countingServer(t, http.StatusOK)
	var atWarmed int64
	warmed := func() error { atWarmed = posts.Load(); return nil }
	res, err := RunLoad(t.Context(), LoadJob{URLs: []string{srv.URL}, Prefix: "closed", Payloads: 30, WarmUp: 7, Clients: 3}, warmed)
	if err != nil {
		t.Fatal(err)
	}
	if atWarmed != 7 || res.Throughput.Payloads != 30 || res.Throughput.Elapsed <= 0 || posts.Load() != 37 {
		t.Errorf("closed loop: %d posts when warmed, result %+v, server got %d posts; want 7, 30 payloads in a positive time, 37 posts",
			atWarmed, res.Throughput, posts.Load())
	}
	res, err = RunLoad(t.Context(), LoadJob{URLs: []string{srv.URL}, Prefix: "open", Payloads: 10, Rate: 200}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Latencies) != 10 || posts.Load() != 47 {
		t.Errorf("open loop: %d latencies, server got %d posts in all; want 10 and 47", len(res.Latencies), posts.Load())
	}
}

// TestRunLoadStopsWhenWarmedFails: the process is stopped before it
// measures anything.
func TestRunLoadStopsWhenWarmedFails(t *testing.T) {
	srv, posts := countingServer(t, http.StatusOK)
	_, err := RunLoad(t.Context(), LoadJob{URLs: []string{srv.URL}, Prefix: "x", Payloads: 30, WarmUp: 2, Clients: 1}, func() error { return errors.New("store unreadable") })
	if err == nil || !strings.Contains(err.Error(), "store unreadable") {
		t.Errorf("RunLoad: %v, want the warmed function's error", err)
	}
	if n := posts.Load(); n != 2 {
		t.Errorf("the server got %d posts, want only the 2 of the warm-up", n)
	}
}

func TestRunLoadErrors(t *testing.T) {
	srv, _ := countingServer(t, http.StatusServiceUnavailable)
	for _, tc := range []struct {
		name string
		job  LoadJob
		want string
	}{
		{"refused posts", LoadJob{URLs: []string{srv.URL}, Prefix: "x", Payloads: 4, Clients: 2}, "load generator: exit status 1: posting to " + srv.URL + ": 4 of 4 posts failed"},
		{"refused warm-up", LoadJob{URLs: []string{srv.URL}, Prefix: "x", Payloads: 4, WarmUp: 3, Clients: 2}, "load generator: exit status 1: warming up: posting to " + srv.URL + ": 3 of 3 posts failed"},
		{"clients and a rate", LoadJob{URLs: []string{srv.URL}, Payloads: 4, Clients: 2, Rate: 10}, "load job: want either clients (2) or a rate (10)"},
		{"no payloads", LoadJob{URLs: []string{srv.URL}, Clients: 2}, `load job: want URLs and payloads, got ["` + srv.URL + `"] and 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RunLoad(t.Context(), tc.job, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("RunLoad: %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

func TestLoadGeneratorMain(t *testing.T) {
	var out, errOut bytes.Buffer
	if _, ran := LoadGeneratorMain(t.Context(), strings.NewReader(""), &out, &errOut); ran {
		t.Fatal("LoadGeneratorMain ran without the variable")
	}
	t.Setenv(LoadGenEnv, `{"urls": ["http://x"], "payloads": 1, "clients": 1, "senders": 2}`)
	code, ran := LoadGeneratorMain(t.Context(), strings.NewReader(""), &out, &errOut)
	if !ran {
		t.Fatal("LoadGeneratorMain did not run with the variable set")
	}
	want := LoadGenEnv + `: json: unknown field "senders"`
	if code != 1 || !strings.Contains(errOut.String(), want) || out.Len() != 0 {
		t.Errorf("a job with an unknown key: exit %d, stderr %q, stdout %q; want 1, %q, nothing", code, errOut.String(), out.String(), want)
	}
}

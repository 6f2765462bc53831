package demoapp

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// do serves one request and returns the status and body.
func do(t *testing.T, a *App, method, target string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	b, err := io.ReadAll(w.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return w.Code, string(b)
}

func TestFailRatio(t *testing.T) {
	a := New()
	if code, body := do(t, a, "POST", "/control/fail?fail_ratio=0.25"); code != http.StatusOK || !strings.Contains(body, `"fail_ratio":0.25`) {
		t.Fatalf("POST /control/fail: %d %s", code, body)
	}
	var codes []int
	for range 8 {
		code, _ := do(t, a, "GET", "/api/items")
		codes = append(codes, code)
	}
	// Exactly the asked share fails, spread evenly.
	want := []int{500, 200, 200, 200, 500, 200, 200, 200}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("statuses %v, want %v", codes, want)
		}
	}
	if err := a.SetFailRatio(0); err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, a, "GET", "/api/items"); code != http.StatusOK || !strings.Contains(body, "anvil") {
		t.Errorf("healed: %d %s, want 200 and the items", code, body)
	}

	// Every API request is counted with its status; the control requests
	// and the health checks are not.
	do(t, a, "GET", "/health")
	_, metrics := do(t, a, "GET", "/metrics")
	for _, line := range []string{
		`http_requests_total{code="500",method="GET",route="/api/items"} 2`,
		`http_requests_total{code="200",method="GET",route="/api/items"} 7`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %s:\n%s", line, metrics)
		}
	}
	if strings.Contains(metrics, "/health") || strings.Contains(metrics, "/control") {
		t.Errorf("/metrics counts health or control requests:\n%s", metrics)
	}
}

func TestSlow(t *testing.T) {
	a := New()
	const delay = 50 * time.Millisecond
	if code, body := do(t, a, "POST", "/control/slow?delay=50ms"); code != http.StatusOK || !strings.Contains(body, `"delay":"50ms"`) {
		t.Fatalf("POST /control/slow: %d %s", code, body)
	}
	start := time.Now()
	if code, _ := do(t, a, "GET", "/api/items"); code != http.StatusOK {
		t.Errorf("slow request: %d, want 200", code)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("the answer took %s, want at least the delay %s", took, delay)
	}
	_, metrics := do(t, a, "GET", "/metrics")
	// The slow answer lands above the 0.05s bucket boundary.
	if !strings.Contains(metrics, `http_request_duration_seconds_bucket{code="200",method="GET",route="/api/items",le="0.05"} 0`+"\n") {
		t.Errorf("the slow answer is not recorded as slow:\n%s", metrics)
	}
	if err := a.SetDelay(0); err != nil {
		t.Fatal(err)
	}
	if got := a.Faults().Delay; got != 0 {
		t.Errorf("delay after healing: %s", got)
	}
}

func TestSlowRequestCancelled(t *testing.T) {
	a := New()
	if err := a.SetDelay(time.Hour); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	client := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := client.Get(srv.URL + "/api/items"); err == nil {
		t.Fatal("a request held for an hour answered")
	}
	// The handler returned when the client gave up, instead of holding its
	// goroutine for the hour.
	testenv.Eventually(t, 10*time.Second, func() error {
		if _, metrics := do(t, a, "GET", "/metrics"); !strings.Contains(metrics, "http_requests_in_flight 0\n") {
			return errors.New("the abandoned request is still in flight")
		}
		return nil
	})
}

func TestHealth(t *testing.T) {
	a := New()
	if code, body := do(t, a, "GET", "/health"); code != http.StatusOK || !strings.Contains(body, `"healthy"`) {
		t.Errorf("GET /health: %d %s, want 200 healthy", code, body)
	}
	if code, body := do(t, a, "POST", "/control/health?healthy=false"); code != http.StatusOK || !strings.Contains(body, `"unhealthy":true`) {
		t.Fatalf("POST /control/health: %d %s", code, body)
	}
	if code, body := do(t, a, "GET", "/health"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"down"`) {
		t.Errorf("stopped GET /health: %d %s, want 503 down", code, body)
	}
	// The API keeps working: only the health endpoint is stopped.
	if code, _ := do(t, a, "GET", "/api/items"); code != http.StatusOK {
		t.Errorf("GET /api/items: %d, want 200", code)
	}
	a.SetHealthy(true)
	if code, _ := do(t, a, "GET", "/health"); code != http.StatusOK {
		t.Errorf("restarted GET /health: %d, want 200", code)
	}
}

func TestControlErrors(t *testing.T) {
	a := New()
	for _, tc := range []struct{ target, want string }{
		{"/control/fail?fail_ratio=2", "not between 0 and 1"},
		{"/control/fail?fail_ratio=half", "fail_ratio"},
		{"/control/fail", "fail_ratio"},
		{"/control/slow?delay=-1s", "negative"},
		{"/control/slow?delay=soon", "delay"},
		{"/control/health?healthy=maybe", "healthy"},
	} {
		code, body := do(t, a, "POST", tc.target)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s: %d %s, want 400 mentioning %q", tc.target, code, body, tc.want)
		}
	}
	if code, body := do(t, a, "GET", "/control"); code != http.StatusOK || body != `{"fail_ratio":0,"delay":"0s","unhealthy":false}`+"\n" {
		t.Errorf("GET /control after refused changes: %d %s, want no faults", code, body)
	}
}

package reload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// source hands out the values and errors a test scripts.
type source struct {
	mu    sync.Mutex
	value string
	err   error
}

func (s *source) set(v string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.value, s.err = v, err
}

func (s *source) load() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value, s.err
}

func newTest(t *testing.T) (*Reloader[string], *source, *prometheus.Registry) {
	t.Helper()
	src := &source{value: "v1"}
	reg := prometheus.NewRegistry()
	r, err := New(src.load, reg, "test", promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return r, src, reg
}

func reloadOK(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "klaxon_test_config_last_reload_successful" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("klaxon_test_config_last_reload_successful not registered")
	return 0
}

func TestNewFailsOnBadInitialConfig(t *testing.T) {
	_, err := New(func() (int, error) { return 0, errors.New("x.yml:3: bad") }, nil, "test", promslog.NewNopLogger())
	if err == nil || err.Error() != "x.yml:3: bad" {
		t.Errorf("got %v, want the loader's error", err)
	}
}

func TestReloadKeepsOldConfigOnError(t *testing.T) {
	r, src, reg := newTest(t)
	src.set("v2", nil)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if r.Get() != "v2" || reloadOK(t, reg) != 1 {
		t.Fatalf("after a good reload: %q, success %v", r.Get(), reloadOK(t, reg))
	}

	src.set("", errors.New("x.yml:7: unknown key"))
	if err := r.Reload(); err == nil {
		t.Fatal("bad reload returned no error")
	}
	if r.Get() != "v2" {
		t.Errorf("bad reload replaced the config with %q", r.Get())
	}
	if got := reloadOK(t, reg); got != 0 {
		t.Errorf("config_last_reload_successful = %v after a failed reload, want 0", got)
	}
}

func TestHandler(t *testing.T) {
	r, src, _ := newTest(t)
	h := r.Handler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/-/reload", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", rec.Code)
	}

	src.set("", errors.New("x.yml:2: probe name \"a\" is used twice"))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `x.yml:2: probe name "a" is used twice`) {
		t.Errorf("bad config: status %d body %q, want 500 with the reason", rec.Code, rec.Body)
	}

	src.set("v3", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
	if rec.Code != http.StatusOK || r.Get() != "v3" {
		t.Errorf("good config: status %d, config %q", rec.Code, r.Get())
	}
}

func TestSIGHUPReloads(t *testing.T) {
	r, src, reg := newTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// WatchSignals has subscribed when it returns: one SIGHUP sent right
	// away must reload, not end the test binary.
	r.WatchSignals(ctx)
	src.set("after-hup", nil)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if r.Get() == "after-hup" {
			return nil
		}
		return fmt.Errorf("config is still %q", r.Get())
	})
	if got := reloadOK(t, reg); got != 1 {
		t.Errorf("config_last_reload_successful = %v after SIGHUP, want 1", got)
	}
}

func TestRegistersReloadMetrics(t *testing.T) {
	_, _, reg := newTest(t)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 2 {
		t.Errorf("got %d metrics (%v), want success and timestamp", n, err)
	}
}

// TestOnReload: what subscribed is told of each config a reload puts in
// force, once it is in force, and of none that fails or of the first.
func TestOnReload(t *testing.T) {
	src := &source{value: "a"}
	r, err := New(src.load, nil, "test", promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	r.OnReload(func(v string) {
		if cur := r.Get(); cur != v {
			t.Errorf("told of %q while %q is in force", v, cur)
		}
		got = append(got, v)
	})
	src.set("b", nil)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	src.set("c", errors.New("broken"))
	if err := r.Reload(); err == nil {
		t.Fatal("a failing load reloaded")
	}
	if fmt.Sprint(got) != "[b]" {
		t.Errorf("told of %v, want [b]: the first config and a failed reload are not news", got)
	}
}

package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// recorder is a testing.TB that keeps the failures it is told of.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// golden runs Golden on a recorder, as a test of its own.
func golden(t *testing.T, path, got string) []string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Golden(r, path, got)
	}()
	<-done
	return r.failures
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "page.golden")
	if err := os.WriteFile(path, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if failures := golden(t, path, "one\ntwo\n"); len(failures) != 0 {
		t.Errorf("the same content failed: %q", failures)
	}
	failures := golden(t, path, "one\nthree\n")
	if len(failures) != 1 {
		t.Fatalf("got %d failures, want 1: %q", len(failures), failures)
	}
	for _, want := range []string{path, "go test ./internal/testkit -update", "two", "three"} {
		if !strings.Contains(failures[0], want) {
			t.Errorf("failure %q does not say %q", failures[0], want)
		}
	}
}

func TestGoldenMissing(t *testing.T) {
	failures := golden(t, filepath.Join(t.TempDir(), "missing.golden"), "x")
	if len(failures) != 1 || !strings.Contains(failures[0], "go test ./internal/testkit -update writes it") {
		t.Errorf("failures %q, want one saying how to write the file", failures)
	}
}

func TestGoldenUpdate(t *testing.T) {
	defer func(was bool) { *update = was }(*update)
	*update = true
	path := filepath.Join(t.TempDir(), "golden", "page.golden")
	Golden(t, path, []byte("new\n"))
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "new\n" {
		t.Errorf("-update wrote %q, %v; want %q", b, err, "new\n")
	}
}

func TestGoldenJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(path, []byte("{\n  \"b\": 1,\n  \"a\": [\n    true\n  ]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	GoldenJSON(t, path, []byte(`{"b":1,"a":[true]}`))
}

func TestGoldenMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "up", Help: "Whether it is up."})
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "other", Help: "Not compared."})
	reg.MustRegister(up, other)
	up.Set(1)
	path := filepath.Join(t.TempDir(), "up.prom")
	if err := os.WriteFile(path, []byte("# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	GoldenMetrics(t, path, reg, "up")
	up.Set(0)
	r := &recorder{TB: t}
	GoldenMetrics(r, path, reg, "up")
	if len(r.failures) != 1 || !strings.Contains(r.failures[0], "-update rewrites it") {
		t.Errorf("failures %q, want one saying how to rewrite the file", r.failures)
	}
}

// Package testenv finds the real servers and programs that Klaxon's
// integration tests talk to: PostgreSQL, Redis, Prometheus, promtool,
// Alertmanager, amtool, node_exporter. When one is missing the test is
// skipped on a developer's machine and fails in CI (CI=true), so that CI
// never passes by skipping.
package testenv

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI, where nothing may be skipped.
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Missing skips t, or fails it in CI, because what it needs is not there.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and a required server or program is missing: "+format, args...)
	}
	t.Skipf("skipping: "+format+" (CI=true makes this a failure)", args...)
}

// PostgresDSN returns the DSN of the test PostgreSQL server
// ($KLAXON_TEST_POSTGRES_DSN, default the local server with trust auth),
// after checking that it answers.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := getenv("KLAXON_TEST_POSTGRES_DSN", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	requireTCP(t, "PostgreSQL", getenv("KLAXON_TEST_POSTGRES_ADDR", "127.0.0.1:5432"))
	return dsn
}

// RedisAddr returns the address of the test Redis server
// ($KLAXON_TEST_REDIS_ADDR, default 127.0.0.1:6379), after checking that it
// answers.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := getenv("KLAXON_TEST_REDIS_ADDR", "127.0.0.1:6379")
	requireTCP(t, "Redis", addr)
	return addr
}

// Program returns the path of an installed program such as promtool,
// prometheus, alertmanager, amtool or prometheus-node-exporter.
func Program(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not installed (make tools installs it)", name)
	}
	return p
}

// RepoRoot returns the repository's root directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository root")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binary builds klaxon-exporter or klaxon-receiver from the working tree
// into a temporary directory and returns its path.
func Binary(t testing.TB, name string) string {
	t.Helper()
	root := RepoRoot(t)
	out := filepath.Join(t.TempDir(), name)
	pkg := map[string]string{"klaxon-exporter": "./exporter", "klaxon-receiver": "./receiver"}[name]
	if pkg == "" {
		t.Fatalf("unknown binary %q", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, b)
	}
	return out
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago, for a server the test starts afterwards. The port is below the
// kernel's ephemeral range, from which outgoing connections take their
// source ports: were it from that range, any connection made meanwhile
// could take it before the server binds it. Ports are not handed out
// twice in one test binary.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 1000 {
		port := freePorts.pick()
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken by a running server
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return ""
}

// Ports FreeAddr hands out, between the registered services' ports and the
// ephemeral range.
const (
	firstFreePort = 20000
	lastFreePort  = 32767
)

// freePorts are the ports FreeAddr has handed out.
var freePorts = &portSet{used: map[int]bool{}}

type portSet struct {
	mu   sync.Mutex
	used map[int]bool
}

// pick returns a random port of the range not handed out before.
func (s *portSet) pick() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		port := firstFreePort + rand.IntN(lastFreePort-firstFreePort+1)
		if port != 25672 && !s.used[port] { // 25672: RabbitMQ's distribution port
			s.used[port] = true
			return port
		}
	}
}

func requireTCP(t testing.TB, what, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		Missing(t, "%s is not answering at %s: %v", what, addr, err)
		return
	}
	conn.Close()
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Eventually calls check until it returns nil or timeout passes, then fails
// t with check's last error. Use it to await a condition instead of sleeping.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 10 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(interval)
		interval = min(interval*2, 500*time.Millisecond)
	}
}

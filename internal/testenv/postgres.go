package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresTimeout bounds each administrative step on a test PostgreSQL:
// creating or dropping a database, starting or stopping a private server.
const postgresTimeout = 2 * time.Minute

// PostgresDatabase creates a database of its own for t on the test
// PostgreSQL server (see PostgresDSN), drops it when the test ends, and
// returns its DSN.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	return CreateDatabase(t, PostgresDSN(t))
}

// CreateDatabase creates a database with a unique name on the server of
// the DSN admin, drops it (closing the connections left to it) when the
// test ends, and returns its DSN: admin's with the database changed.
func CreateDatabase(t testing.TB, admin string) string {
	t.Helper()
	name := "klaxon_test_" + randomHex(t, 8)
	run := func(query string) error {
		ctx, cancel := context.WithTimeout(context.Background(), postgresTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, query)
		return err
	}
	if err := run("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := run("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	dsn, err := WithDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// WithDatabase returns dsn, a URL or key=value connection string, naming
// database name instead of its own.
func WithDatabase(dsn, name string) (string, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " dbname=" + name, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("the test PostgreSQL DSN is not a valid URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// PrivatePostgres is a PostgreSQL server of one test's own, for tests that
// stop and start it: initdb'd into a temporary directory, listening on
// 127.0.0.1 on a free port, with trust auth for user postgres. It is
// stopped and its directory removed when the test ends.
type PrivatePostgres struct {
	// DSN connects to its database postgres.
	DSN  string
	bin  string
	dir  string
	addr string
	cred *syscall.Credential
}

// postgresBin is where Debian's PostgreSQL 15 keeps initdb and pg_ctl;
// $KLAXON_TEST_POSTGRES_BIN overrides it.
const postgresBin = "/usr/lib/postgresql/15/bin"

// StartPrivatePostgres initialises and starts a private PostgreSQL. When
// the test runs as root, which initdb refuses, the server runs as the
// system user postgres.
func StartPrivatePostgres(t testing.TB) *PrivatePostgres {
	t.Helper()
	bin := getenv("KLAXON_TEST_POSTGRES_BIN", postgresBin)
	for _, prog := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, prog)); err != nil {
			Missing(t, "PostgreSQL's %s is not installed in %s (Debian package postgresql-15; $KLAXON_TEST_POSTGRES_BIN)", prog, bin)
		}
	}
	p := &PrivatePostgres{bin: bin, addr: FreeAddr(t)}
	p.cred = serverUser(t)
	p.dir = privateDir(t, p.cred)
	_, port, _ := net.SplitHostPort(p.addr)
	p.DSN = fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", p.addr)
	p.run(t, "initdb", "--pgdata", p.data(), "--username", "postgres", "--auth", "trust",
		"--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nfsync = off\n", port, p.dir)
	if err := os.WriteFile(filepath.Join(p.data(), "postgresql.auto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if p.cred != nil {
		if err := os.Chown(filepath.Join(p.data(), "postgresql.auto.conf"), int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// Immediate: the data is thrown away. An error means it was
		// not running.
		_ = p.pgctl("stop", "-m", "immediate")
	})
	p.Start(t)
	return p
}

// Addr is the server's host:port.
func (p *PrivatePostgres) Addr() string { return p.addr }

// Stop shuts the server down (fast: open connections are closed) and
// waits until it has.
func (p *PrivatePostgres) Stop(t testing.TB) {
	t.Helper()
	if err := p.pgctl("stop", "-m", "fast"); err != nil {
		t.Fatalf("stopping the private PostgreSQL: %v\n%s", err, p.Log())
	}
}

// Start starts the server and waits until it accepts connections.
func (p *PrivatePostgres) Start(t testing.TB) {
	t.Helper()
	if err := p.pgctl("start", "--log", p.logFile()); err != nil {
		t.Fatalf("starting the private PostgreSQL: %v\n%s", err, p.Log())
	}
}

// Restart stops the server (fast) and starts it again on the same
// address and data, as a failover or an upgrade does to its clients:
// their connections are closed, and new ones are refused until it is
// back.
func (p *PrivatePostgres) Restart(t testing.TB) {
	t.Helper()
	p.Stop(t)
	p.Start(t)
}

// Log is what the server logged so far.
func (p *PrivatePostgres) Log() string {
	b, _ := os.ReadFile(p.logFile())
	return string(b)
}

func (p *PrivatePostgres) data() string    { return filepath.Join(p.dir, "data") }
func (p *PrivatePostgres) logFile() string { return filepath.Join(p.dir, "postgres.log") }

// pgctl runs pg_ctl on the data directory and waits for it.
func (p *PrivatePostgres) pgctl(args ...string) error {
	args = append(args, "--pgdata", p.data(), "--wait", "--timeout", strconv.Itoa(int(postgresTimeout.Seconds())))
	out, err := p.command("pg_ctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w\n%s", args[0], err, out)
	}
	return nil
}

func (p *PrivatePostgres) run(t testing.TB, prog string, args ...string) {
	t.Helper()
	if out, err := p.command(prog, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", prog, err, out)
	}
}

func (p *PrivatePostgres) command(prog string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, prog), args...)
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd
}

// serverUser is the user the private server runs as: nil for the test's
// own, or postgres's when the test runs as root.
func serverUser(t testing.TB) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		Missing(t, "the test runs as root, which initdb refuses, and there is no user postgres to run PostgreSQL as: %v", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// privateDir makes a temporary directory that the server's user owns and
// removes it when the test ends. It is not under t.TempDir, whose parent
// another user cannot enter.
func privateDir(t testing.TB, cred *syscall.Credential) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "klaxon-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

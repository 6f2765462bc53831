package receiverconfig

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestStoragePostgres: a postgres section replaces the SQLite file, its
// DSN comes inline, from a file next to the config or from the
// environment, and the pool has a default size.
func TestStoragePostgres(t *testing.T) {
	t.Setenv("KLAXON_TEST_DSN", "postgres://klaxon:s3cret@db/klaxon")
	c, err := Parse("x.yml", []byte("storage:\n  postgres:\n    dsn_env: KLAXON_TEST_DSN\n"))
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := c.Storage.Postgres.ConnString()
	if err != nil || dsn != "postgres://klaxon:s3cret@db/klaxon" || c.Storage.Postgres.MaxConns != DefaultMaxConns {
		t.Errorf("dsn_env: %q, %v, pool %d; want the variable's DSN and a pool of %d", dsn, err, c.Storage.Postgres.MaxConns, DefaultMaxConns)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dsn"), []byte("postgres://db/klaxon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "receiver.yml")
	if err := os.WriteFile(file, []byte("storage:\n  postgres:\n    dsn_file: dsn\n    max_conns: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if dsn, err := c.Storage.Postgres.ConnString(); err != nil || dsn != "postgres://db/klaxon" || c.Storage.Postgres.MaxConns != 3 {
		t.Errorf("dsn_file next to the config: %q, %v, pool %d", dsn, err, c.Storage.Postgres.MaxConns)
	}
}

// TestStorageTakeover: takeover_after has a default, with or without a
// storage section, and takes the config's durations.
func TestStorageTakeover(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"":                                     DefaultTakeoverAfter,
		"storage:\n  path: a.db\n":             DefaultTakeoverAfter,
		"storage:\n  takeover_after: 1m\n":     time.Minute,
		"storage:\n  takeover_after: 4500ms\n": 4500 * time.Millisecond,
	} {
		c, err := Parse("x.yml", []byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if c.Storage.TakeoverAfter != want {
			t.Errorf("%q: takeover_after %s, want %s", in, c.Storage.TakeoverAfter, want)
		}
	}
}

func TestStorageBad(t *testing.T) {
	for _, tc := range []struct{ name, in, err string }{
		{"postgres and path", "storage:\n  path: a.db\n  postgres:\n    dsn: postgres://db/k\n",
			"x.yml:2: storage: path is the SQLite file's; with postgres, leave it out"},
		{"no dsn", "storage:\n  postgres:\n    max_conns: 2\n",
			"x.yml:3: storage.postgres: one of dsn, dsn_file and dsn_env is required"},
		{"two dsns", "storage:\n  postgres:\n    dsn: postgres://db/k\n    dsn_file: f\n",
			"x.yml:4: at most one of dsn, dsn_file and dsn_env may be set"},
		{"pool", "storage:\n  postgres:\n    dsn: postgres://db/k\n    max_conns: 0\n",
			"x.yml:4: storage.postgres: max_conns must be at least 1, not 0"},
		{"takeover too soon", "storage:\n  takeover_after: 1s\n",
			"x.yml:2: storage: takeover_after must be at least 3s, not 1s"},
		{"unknown key", "storage:\n  postgres:\n    dns: postgres://db/k\n",
			`x.yml:3: unknown key "dns" (known keys: dsn, dsn_env, dsn_file, max_conns)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yml", []byte(tc.in))
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			if diff := cmp.Diff(tc.err, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStorageDSNFileErrors: an unreadable or empty dsn_file is an error
// that names the setting.
func TestStorageDSNFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		filepath.Join(dir, "missing"): "storage.postgres.dsn_file: open " + filepath.Join(dir, "missing") + ": no such file or directory",
		empty:                         "storage.postgres: the DSN is empty",
	} {
		_, err := (&Postgres{DSNFile: file}).ConnString()
		if err == nil || err.Error() != want {
			t.Errorf("dsn_file %s: %v, want %s", file, err, want)
		}
	}
}

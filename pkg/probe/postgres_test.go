package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/collector"
)

func TestPostgresConfigGood(t *testing.T) {
	c, err := LoadFile("testdata/postgres-good.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []*PostgresConfig{
		{
			DSN:                "postgres://klaxon:hunter2@db.example.com:5432/orders?sslmode=require",
			SlowQueryThreshold: DefaultSlowQueryThreshold,
		},
		{
			DSNFile:            filepath.Join("testdata", "secrets", "billing-dsn"),
			SlowQueryThreshold: 2 * time.Minute,
		},
	}
	var got []*PostgresConfig
	for _, p := range c.Probes {
		got = append(got, p.Postgres)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("postgres configs (-want +got):\n%s", diff)
	}
}

func TestPostgresConfigBad(t *testing.T) {
	for _, tc := range []struct {
		file, err string
	}{
		{"postgres-bad-missing-dsn.yml", "testdata/postgres-bad-missing-dsn.yml:4: postgres: one of dsn and dsn_file is required"},
		{"postgres-bad-dsn-and-dsn-file.yml", "testdata/postgres-bad-dsn-and-dsn-file.yml:4: postgres: at most one of dsn and dsn_file may be set"},
		{"postgres-bad-threshold.yml", "testdata/postgres-bad-threshold.yml:5: postgres: slow_query_threshold must be positive, not -5s"},
		{"postgres-bad-threshold-syntax.yml", `testdata/postgres-bad-threshold-syntax.yml:5: probes[0].postgres.slow_query_threshold: "soon" is not a duration (use ms, s, m, h, d, w, y e.g. 90s, 5m)`},
		{"postgres-bad-dsn-url.yml", "testdata/postgres-bad-dsn-url.yml:4: postgres: dsn: invalid port"},
		{"postgres-bad-dsn-escape.yml", "testdata/postgres-bad-dsn-escape.yml:4: postgres: dsn: failed to parse as URL: invalid percent-encoded token in password"},
		{"postgres-bad-dsn-keyvalue.yml", "testdata/postgres-bad-dsn-keyvalue.yml:4: postgres: dsn: failed to parse as keyword/value"},
		{"postgres-bad-unknown-key.yml", "testdata/postgres-bad-unknown-key.yml:5: unknown key \"exclude_self\" (known keys: dsn, dsn_file, slow_query_threshold)"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadFile(filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatal("LoadFile succeeded, want an error")
			}
			if err.Error() != tc.err {
				t.Errorf("error:\n got %s\nwant %s", err, tc.err)
			}
			for _, secret := range []string{"hunter2", "secret", "zzter"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains the password fragment %q", err, secret)
				}
			}
		})
	}
}

// TestPostgresConnectionStates opens sessions in four states under one
// application_name and checks the series the probe reports for it.
func TestPostgresConnectionStates(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	const app = "klaxon-test-connection-states"
	pgOpenIdle(t, dsn, app)
	pgOpenIdleInTransaction(t, dsn, app, false)
	pgOpenIdleInTransaction(t, dsn, app, true)
	pgOpenActive(t, dsn, app)
	pgAwaitStates(t, dsn, app, map[string]int{
		"active": 1, "idle": 1, "idle in transaction": 1, "idle in transaction (aborted)": 1,
	})

	mfs, err := pgScrape(t, postgresProbe(dsn, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got := pgExposition(t, mfs, func(name string, labels map[string]string) bool {
		return labels["application"] == app ||
			name == "klaxon_postgres_slow_query_threshold_seconds" || name == "klaxon_probe_success"
	})
	testkit.Golden(t, "testdata/postgres-connections.prom", got)
}

// TestPostgresExcludesSelf checks that the probe's own backend, which is
// active while the probe queries, is never counted.
func TestPostgresExcludesSelf(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	const app = "klaxon-test-exclude-self"
	mfs, err := pgScrape(t, postgresProbe(dsn, time.Minute), func(p *postgresProber) { p.applicationName = app })
	if err != nil {
		t.Fatal(err)
	}
	if got := pgExposition(t, mfs, func(_ string, l map[string]string) bool { return l["application"] == app }); got != "" {
		t.Errorf("the probe counted its own connection:\n%s", got)
	}
	if v := pgValue(t, mfs, "klaxon_probe_success"); v != 1 {
		t.Errorf("klaxon_probe_success = %v, want 1", v)
	}
}

func TestPostgresConnectionLimits(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	mfs, err := pgScrape(t, postgresProbe(dsn, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	conn := pgConnect(t, dsn, "klaxon-test-connection-limits")
	for setting, metric := range map[string]string{
		"max_connections":                "klaxon_postgres_max_connections",
		"superuser_reserved_connections": "klaxon_postgres_superuser_reserved_connections",
	} {
		var want float64
		if err := conn.QueryRow(t.Context(), "SELECT current_setting($1)::float8", setting).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got := pgValue(t, mfs, metric); got != want {
			t.Errorf("%s = %v, want SHOW %s = %v", metric, got, setting, want)
		}
	}
}

func TestPostgresSlowQuery(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	const app = "klaxon-test-slow-query"
	threshold := 100 * time.Millisecond
	pgOpenActive(t, dsn, app)
	admin := pgConnect(t, dsn, app+"-admin")
	testenv.Eventually(t, 30*time.Second, func() error {
		var past bool
		err := admin.QueryRow(t.Context(), `
			SELECT coalesce(bool_or(now() - query_start > make_interval(secs => $2)), false)
			FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`,
			app, threshold.Seconds()).Scan(&past)
		if err == nil && !past {
			err = errors.New("the query has not yet run past the threshold")
		}
		return err
	})

	mfs, err := pgScrape(t, postgresProbe(dsn, threshold))
	if err != nil {
		t.Fatal(err)
	}
	if v := pgValue(t, mfs, "klaxon_postgres_slow_queries"); v < 1 {
		t.Errorf("klaxon_postgres_slow_queries = %v, want at least 1", v)
	}
	if v := pgValue(t, mfs, "klaxon_postgres_longest_active_query_seconds"); v < threshold.Seconds() {
		t.Errorf("klaxon_postgres_longest_active_query_seconds = %v, want at least %v", v, threshold.Seconds())
	}
	if v := pgValue(t, mfs, "klaxon_postgres_slow_query_threshold_seconds"); v != threshold.Seconds() {
		t.Errorf("klaxon_postgres_slow_query_threshold_seconds = %v, want %v", v, threshold.Seconds())
	}

	// The same query is not slow under a threshold it cannot have reached.
	mfs, err = pgScrape(t, postgresProbe(dsn, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if v := pgValue(t, mfs, "klaxon_postgres_slow_queries"); v != 0 {
		t.Errorf("with a 1h threshold klaxon_postgres_slow_queries = %v, want 0", v)
	}
}

const pgTestPassword = "pw-Zq7fXk"

func TestPostgresUnreachable(t *testing.T) {
	addr := testenv.FreeAddr(t)
	p := postgresProbe("postgres://postgres:"+pgTestPassword+"@"+addr+"/postgres?sslmode=disable", time.Minute)
	mfs, err := pgScrape(t, p)
	pgAssertFailure(t, mfs, err, "connection refused")
	if strings.Contains(err.Error(), "timed out") {
		t.Errorf("a refused connection waited for the timeout: %v", err)
	}
}

// TestPostgresTimeout points the probe at a server that accepts
// connections and never answers.
func TestPostgresTimeout(t *testing.T) {
	addr := pgSilentServer(t)
	p := postgresProbe("postgres://postgres:"+pgTestPassword+"@"+addr+"/postgres?sslmode=disable", time.Minute)
	p.Timeout = 200 * time.Millisecond
	mfs, err := pgScrape(t, p)
	pgAssertFailure(t, mfs, err, "timed out after 200ms")
}

func TestPostgresServerRejects(t *testing.T) {
	cfg, err := pgx.ParseConfig(testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	hostPort := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	for _, tc := range []struct {
		name, user, database, reason string
	}{
		{"unknown database", cfg.User, "klaxon_no_such_db", `database "klaxon_no_such_db" does not exist`},
		{"unknown role", "klaxon_no_such_role", cfg.Database, `role "klaxon_no_such_role" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", tc.user, pgTestPassword, hostPort, tc.database)
			mfs, err := pgScrape(t, postgresProbe(dsn, time.Minute))
			pgAssertFailure(t, mfs, err, tc.reason)
		})
	}
}

// TestPostgresWrongPassword uses a stand-in server that asks for a password
// and rejects it, because the test server trusts every connection.
func TestPostgresWrongPassword(t *testing.T) {
	received := make(chan string, 1)
	host, port, err := net.SplitHostPort(pgPasswordRejectingServer(t, received))
	if err != nil {
		t.Fatal(err)
	}
	p := postgresProbe(fmt.Sprintf("host=%s port=%s user=postgres password=%s sslmode=disable",
		host, port, pgTestPassword), time.Minute)
	mfs, err := pgScrape(t, p)
	pgAssertFailure(t, mfs, err, `password authentication failed for user "postgres"`)
	if got := <-received; got != pgTestPassword {
		t.Errorf("server received password %q, want %q", got, pgTestPassword)
	}
}

func TestPostgresDSNFile(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	path := filepath.Join(t.TempDir(), "dsn")
	p := &Probe{Name: "pg", Timeout: DefaultTimeout, Postgres: &PostgresConfig{
		DSNFile: path, SlowQueryThreshold: time.Minute,
	}}

	pgWriteFile(t, path, "\n"+dsn+"\n")
	mfs, err := pgScrape(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if v := pgValue(t, mfs, "klaxon_probe_success"); v != 1 {
		t.Errorf("klaxon_probe_success = %v, want 1", v)
	}

	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pgWriteFile(t, path, fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=klaxon_no_such_db sslmode=disable",
		cfg.Host, cfg.Port, cfg.User, pgTestPassword))
	mfs, err = pgScrape(t, p)
	pgAssertFailure(t, mfs, err, `database "klaxon_no_such_db" does not exist`)

	pgWriteFile(t, path, "  \n")
	mfs, err = pgScrape(t, p)
	pgAssertFailure(t, mfs, err, "dsn_file "+path+" is empty")

	pgWriteFile(t, path, "user=postgres password="+pgTestPassword+" port")
	mfs, err = pgScrape(t, p)
	pgAssertFailure(t, mfs, err, "dsn_file "+path+": failed to parse as keyword/value")

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mfs, err = pgScrape(t, p)
	pgAssertFailure(t, mfs, err, "reading dsn_file: open "+path+": no such file or directory")
}

func postgresProbe(dsn string, threshold time.Duration) *Probe {
	return &Probe{
		Name:     "pg",
		Timeout:  DefaultTimeout,
		Labels:   map[string]string{"team": "db"},
		Postgres: &PostgresConfig{DSN: commoncfg.Secret(dsn), SlowQueryThreshold: threshold},
	}
}

// scrape runs p once, as a scrape would, and returns what it sent and the
// error it returned. tweak, if given, adjusts the prober first.
func pgScrape(t *testing.T, p *Probe, tweak ...func(*postgresProber)) ([]*dto.MetricFamily, error) {
	t.Helper()
	cs, err := (&Config{Probes: []Probe{*p}}).Collectors(promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	c := cs[CollectorPrefix+p.Name]
	for _, f := range tweak {
		f(c.(*probeCollector).prober.(*postgresProber))
	}
	u := &pgUpdater{ctx: t.Context(), c: c}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(u)
	mfs, gatherErr := reg.Gather()
	if gatherErr != nil {
		t.Fatalf("gathering: %v", gatherErr)
	}
	return mfs, u.err
}

// pgUpdater adapts a collector.Collector to a prometheus.Collector and keeps
// the error of its Update.
type pgUpdater struct {
	ctx context.Context
	c   collector.Collector
	err error
}

func (u *pgUpdater) Describe(chan<- *prometheus.Desc) {}

func (u *pgUpdater) Collect(ch chan<- prometheus.Metric) { u.err = u.c.Update(u.ctx, ch) }

// pgExposition renders the series that keep selects in the text format.
func pgExposition(t *testing.T, mfs []*dto.MetricFamily, keep func(name string, labels map[string]string) bool) string {
	t.Helper()
	var buf bytes.Buffer
	for _, mf := range mfs {
		kept := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type}
		for _, m := range mf.Metric {
			if keep(mf.GetName(), pgLabels(m)) {
				kept.Metric = append(kept.Metric, m)
			}
		}
		if len(kept.Metric) == 0 {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&buf, kept); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

// value returns the value of the one series named name.
func pgValue(t *testing.T, mfs []*dto.MetricFamily, name string) float64 {
	t.Helper()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		if len(mf.Metric) != 1 {
			t.Fatalf("%s has %d series, want 1", name, len(mf.Metric))
		}
		return mf.Metric[0].GetGauge().GetValue()
	}
	t.Fatalf("%s was not sent", name)
	return 0
}

func pgLabels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.Label {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// pgAssertFailure checks that a probe failed with reason, reported
// klaxon_probe_success 0, sent no postgres metrics and kept the password
// out of its error.
func pgAssertFailure(t *testing.T, mfs []*dto.MetricFamily, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the probe succeeded, want an error containing %q", reason)
	}
	t.Logf("probe error: %v", err)
	if !strings.Contains(err.Error(), reason) {
		t.Errorf("error %q does not contain %q", err, reason)
	}
	if strings.Contains(err.Error(), pgTestPassword) {
		t.Errorf("error %q contains the password", err)
	}
	if v := pgValue(t, mfs, "klaxon_probe_success"); v != 0 {
		t.Errorf("klaxon_probe_success = %v, want 0", v)
	}
	if got := pgExposition(t, mfs, func(name string, _ map[string]string) bool {
		return strings.HasPrefix(name, "klaxon_postgres_")
	}); got != "" {
		t.Errorf("a failed probe sent postgres metrics:\n%s", got)
	}
}

func pgWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// connect opens a session named app, closed when the test ends.
func pgConnect(t *testing.T, dsn, app string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func pgOpenIdle(t *testing.T, dsn, app string) {
	t.Helper()
	pgConnect(t, dsn, app)
}

// pgOpenIdleInTransaction leaves a session inside a transaction, aborted by a
// failed statement if aborted is set.
func pgOpenIdleInTransaction(t *testing.T, dsn, app string, aborted bool) {
	t.Helper()
	conn := pgConnect(t, dsn, app)
	if _, err := conn.Exec(t.Context(), "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if aborted {
		if _, err := conn.Exec(t.Context(), "SELECT 1/0"); err == nil {
			t.Fatal("SELECT 1/0 succeeded, want a division by zero")
		}
	}
}

// pgOpenActive starts a query that runs until the test ends.
func pgOpenActive(t *testing.T, dsn, app string) {
	t.Helper()
	conn := pgConnect(t, dsn, app)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = conn.Exec(ctx, "SELECT pg_sleep(3600)")
	}()
	// Runs before connect's cleanup: cancel the query, then close.
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// pgAwaitStates waits until pg_stat_activity shows app's sessions in want.
func pgAwaitStates(t *testing.T, dsn, app string, want map[string]int) {
	t.Helper()
	admin := pgConnect(t, dsn, app+"-admin")
	testenv.Eventually(t, 30*time.Second, func() error {
		rows, err := admin.Query(t.Context(),
			"SELECT state, count(*)::int FROM pg_stat_activity WHERE application_name = $1 GROUP BY state", app)
		if err != nil {
			return err
		}
		got := map[string]int{}
		var state string
		var n int
		_, err = pgx.ForEachRow(rows, []any{&state, &n}, func() error {
			got[state] = n
			return nil
		})
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("sessions of %s by state (-want +got):\n%s", app, diff)
		}
		return nil
	})
}

// pgSilentServer accepts connections and never answers.
func pgSilentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// pgPasswordRejectingServer serves one connection: it asks for a cleartext
// password, sends the password it got to received and rejects it as
// PostgreSQL does. It returns the server's address.
func pgPasswordRejectingServer(t *testing.T, received chan<- string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		defer close(received)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if pw, err := pgRejectPassword(c); err == nil {
			received <- pw
		}
	}()
	return l.Addr().String()
}

func pgRejectPassword(c net.Conn) (string, error) {
	b := pgproto3.NewBackend(c, c)
	if _, err := b.ReceiveStartupMessage(); err != nil {
		return "", err
	}
	b.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := b.Flush(); err != nil {
		return "", err
	}
	if err := b.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
		return "", err
	}
	msg, err := b.Receive()
	if err != nil {
		return "", err
	}
	pm, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		return "", fmt.Errorf("got %T, want a password", msg)
	}
	b.Send(&pgproto3.ErrorResponse{
		Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "postgres"`,
	})
	return pm.Password, b.Flush()
}

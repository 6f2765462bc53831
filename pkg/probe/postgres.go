package probe

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/pgdsn"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// DefaultSlowQueryThreshold is how long an active query may run before a
// postgres probe counts it as slow, unless slow_query_threshold says otherwise.
const DefaultSlowQueryThreshold = 30 * time.Second

// postgresApplicationName is the application_name of the probe's own
// connection, so that DBAs can tell it apart in pg_stat_activity.
const postgresApplicationName = "klaxon-exporter"

// PostgresConfig configures a postgres probe: where the server is and when a
// query counts as slow.
type PostgresConfig struct {
	// DSN is a connection URL (postgres://user:pass@host:5432/db) or a
	// key=value connection string. It may carry a password.
	DSN commoncfg.Secret `yaml:"dsn"`
	// DSNFile names a file holding the DSN. It is read at every probe, so a
	// rotated password needs no reload.
	DSNFile string `yaml:"dsn_file"`
	// SlowQueryThreshold is how long an active query runs before it is slow.
	SlowQueryThreshold time.Duration `yaml:"slow_query_threshold"`
}

// UnmarshalYAML applies defaults and validates the config. An inline DSN
// must parse; the error never repeats it.
func (c *PostgresConfig) UnmarshalYAML(node *yaml.Node) error {
	*c = PostgresConfig{SlowQueryThreshold: DefaultSlowQueryThreshold}
	type plain PostgresConfig
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	switch {
	case c.DSN == "" && c.DSNFile == "":
		return yamlconf.Errorf(node, "postgres: one of dsn and dsn_file is required")
	case c.DSN != "" && c.DSNFile != "":
		return yamlconf.Errorf(node, "postgres: at most one of dsn and dsn_file may be set")
	case c.SlowQueryThreshold <= 0:
		return yamlconf.Errorf(yamlconf.ValueNode(node, "slow_query_threshold"),
			"postgres: slow_query_threshold must be positive, not %s", c.SlowQueryThreshold)
	}
	if c.DSN != "" {
		if _, err := parsePostgresDSN(string(c.DSN)); err != nil {
			return yamlconf.Errorf(yamlconf.ValueNode(node, "dsn"), "postgres: dsn: %v", err)
		}
	}
	return nil
}

func (c *PostgresConfig) resolvePaths(configFile string) {
	c.DSNFile = yamlconf.ResolvePath(configFile, c.DSNFile)
}

func (c *PostgresConfig) newProber(*Probe) (prober, error) {
	return &postgresProber{conf: c, applicationName: postgresApplicationName}, nil
}

// parsePostgresDSN parses a URL or key=value DSN. Its error says what is
// wrong without quoting the DSN, which may hold a password.
func parsePostgresDSN(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, pgdsn.RedactParseError(err)
	}
	return cfg, nil
}

// postgresProber connects once per probe and reads connection counts,
// connection limits and slow queries from the server.
type postgresProber struct {
	conf *PostgresConfig
	// applicationName names the probe's own connection.
	applicationName string
}

// postgresStats is what one probe reads from the server.
type postgresStats struct {
	connections        []pgConnectionCount
	maxConnections     float64
	superuserReserved  float64
	slowQueries        float64
	longestActiveQuery float64
}

// pgConnectionCount is the number of client backends in one state for one
// application_name.
type pgConnectionCount struct {
	state, application string
	count              float64
}

func (p *postgresProber) probe(ctx context.Context, e *Emitter) (bool, error) {
	cfg, err := p.connConfig()
	if err != nil {
		return false, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	stats, err := p.query(ctx, conn)
	if err != nil {
		return false, err
	}
	p.emit(e, stats)
	return true, nil
}

// connConfig reads the DSN, from dsn_file if set, and names the connection.
func (p *postgresProber) connConfig() (*pgx.ConnConfig, error) {
	dsn := string(p.conf.DSN)
	if p.conf.DSNFile != "" {
		b, err := os.ReadFile(p.conf.DSNFile)
		if err != nil {
			return nil, fmt.Errorf("reading dsn_file: %w", err)
		}
		dsn = strings.TrimSpace(string(b))
		if dsn == "" {
			return nil, fmt.Errorf("dsn_file %s is empty", p.conf.DSNFile)
		}
	}
	cfg, err := parsePostgresDSN(dsn)
	if err != nil {
		if p.conf.DSNFile != "" {
			return nil, fmt.Errorf("dsn_file %s: %w", p.conf.DSNFile, err)
		}
		return nil, fmt.Errorf("dsn: %w", err)
	}
	cfg.RuntimeParams["application_name"] = p.applicationName
	// One round trip per query and no prepared statements: the connection
	// lives for a single probe, and poolers such as PgBouncer accept it.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	return cfg, nil
}

// pgConnectionsSQL counts client backends by state and application, leaving
// out the probe's own. Without pg_monitor, the state of other users'
// backends reads as NULL, reported as "unknown".
const pgConnectionsSQL = `
SELECT coalesce(state, 'unknown'), coalesce(application_name, ''), count(*)::float8
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
GROUP BY 1, 2`

// pgLimitsSQL reads the connection limits and the active queries that have
// run longer than $1 seconds, leaving out the probe's own.
const pgLimitsSQL = `
SELECT current_setting('max_connections')::float8,
       current_setting('superuser_reserved_connections')::float8,
       (count(*) FILTER (WHERE now() - query_start > make_interval(secs => $1)))::float8,
       coalesce(extract(epoch FROM max(now() - query_start)), 0)::float8
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()`

func (p *postgresProber) query(ctx context.Context, conn *pgx.Conn) (postgresStats, error) {
	var s postgresStats
	rows, err := conn.Query(ctx, pgConnectionsSQL)
	if err != nil {
		return s, fmt.Errorf("querying pg_stat_activity: %w", err)
	}
	s.connections, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (pgConnectionCount, error) {
		var c pgConnectionCount
		err := row.Scan(&c.state, &c.application, &c.count)
		return c, err
	})
	if err != nil {
		return s, fmt.Errorf("reading connection counts: %w", err)
	}
	err = conn.QueryRow(ctx, pgLimitsSQL, p.conf.SlowQueryThreshold.Seconds()).Scan(
		&s.maxConnections, &s.superuserReserved, &s.slowQueries, &s.longestActiveQuery)
	if err != nil {
		return s, fmt.Errorf("reading connection limits and slow queries: %w", err)
	}
	return s, nil
}

func (p *postgresProber) emit(e *Emitter, s postgresStats) {
	for _, c := range s.connections {
		e.Gauge("postgres_connections",
			"Client backends in pg_stat_activity by state and application_name, without the probe's own.",
			c.count, "state", c.state, "application", c.application)
	}
	e.Gauge("postgres_max_connections", "The server's max_connections setting.", s.maxConnections)
	e.Gauge("postgres_superuser_reserved_connections",
		"The server's superuser_reserved_connections setting.", s.superuserReserved)
	e.Gauge("postgres_slow_queries",
		"Active client queries that have run longer than klaxon_postgres_slow_query_threshold_seconds.", s.slowQueries)
	e.Gauge("postgres_slow_query_threshold_seconds",
		"The probe's slow_query_threshold: how long an active query runs before it counts as slow.",
		p.conf.SlowQueryThreshold.Seconds())
	e.Gauge("postgres_longest_active_query_seconds",
		"How long the longest-running active client query has run, 0 when none is active.", s.longestActiveQuery)
}

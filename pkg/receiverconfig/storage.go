package receiverconfig

import (
	"errors"
	"fmt"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// Storage says where the durable state lives: a SQLite file for one
// receiver (the default), or PostgreSQL for two or more replicas that
// share it.
type Storage struct {
	// Path of the SQLite file, relative to the working directory.
	Path string `yaml:"path"`
	// Postgres, when set, keeps the state in PostgreSQL instead.
	Postgres *Postgres `yaml:"postgres"`
	// TakeoverAfter is how long a delivery or escalation claimed by a
	// receiver that stopped working on it (it died, hung or lost the
	// store) waits before another replica, or this one restarted, takes
	// it over. A live receiver renews its claims every third of it.
	TakeoverAfter time.Duration `yaml:"takeover_after"`
}

// Takeover bounds.
const (
	DefaultTakeoverAfter = 15 * time.Second
	// MinTakeoverAfter keeps the renewals, every third of it, to about one
	// store write a second.
	MinTakeoverAfter = 3 * time.Second
)

// Postgres is a PostgreSQL store's connection.
type Postgres struct {
	// DSN is a libpq connection string or URL; TLS is set in it
	// (sslmode, sslrootcert). One of DSN, DSNFile and DSNEnv is required.
	DSN     commoncfg.Secret `yaml:"dsn"`
	DSNFile string           `yaml:"dsn_file"`
	DSNEnv  string           `yaml:"dsn_env"`
	// MaxConns bounds the connection pool (default DefaultMaxConns).
	MaxConns int `yaml:"max_conns"`
}

// DefaultMaxConns is the PostgreSQL pool's size when max_conns is not set.
const DefaultMaxConns = 10

// UnmarshalYAML applies the defaults and checks the section.
func (s *Storage) UnmarshalYAML(node *yaml.Node) error {
	*s = Storage{Path: DefaultStoragePath, TakeoverAfter: DefaultTakeoverAfter}
	type plain Storage
	if err := yamlconf.DecodeNode(node, (*plain)(s)); err != nil {
		return err
	}
	if at := yamlconf.ValueNode(node, "path"); s.Postgres != nil && at != node {
		return yamlconf.Errorf(at, "storage: path is the SQLite file's; with postgres, leave it out")
	}
	if s.TakeoverAfter < MinTakeoverAfter {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "takeover_after"), "storage: takeover_after must be at least %s, not %s", MinTakeoverAfter, s.TakeoverAfter)
	}
	return nil
}

// UnmarshalYAML applies the defaults and checks the section.
func (p *Postgres) UnmarshalYAML(node *yaml.Node) error {
	*p = Postgres{MaxConns: DefaultMaxConns}
	type plain Postgres
	if err := yamlconf.DecodeNode(node, (*plain)(p)); err != nil {
		return err
	}
	if p.DSN == "" && p.DSNFile == "" && p.DSNEnv == "" {
		return yamlconf.Errorf(node, "storage.postgres: one of dsn, dsn_file and dsn_env is required")
	}
	if p.MaxConns < 1 {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "max_conns"), "storage.postgres: max_conns must be at least 1, not %d", p.MaxConns)
	}
	return yamlconf.ResolveSecret(node, "dsn", &p.DSN, p.DSNFile, p.DSNEnv)
}

// ConnString returns the DSN, reading dsn_file when it is set. Its error
// never quotes the DSN, which holds a password.
func (p *Postgres) ConnString() (string, error) {
	dsn, err := notify.ReadSecret(p.DSN, p.DSNFile)
	if err != nil {
		return "", fmt.Errorf("storage.postgres.dsn_file: %w", err)
	}
	if dsn == "" {
		return "", errors.New("storage.postgres: the DSN is empty")
	}
	return dsn, nil
}

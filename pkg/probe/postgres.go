package probe

import (
	"context"
	"errors"
)

// PostgresConfig configures a postgres probe. (Placeholder: filled in by the postgres probe work.)
type PostgresConfig struct{}

func (c *PostgresConfig) newProber(*Probe) (prober, error) { return postgresProber{}, nil }

type postgresProber struct{}

func (postgresProber) probe(context.Context, *Emitter) (bool, error) {
	return false, errors.New("postgres probe not implemented yet")
}

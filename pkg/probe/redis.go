package probe

import (
	"context"
	"errors"
)

// RedisConfig configures a redis probe. (Placeholder: filled in by the redis probe work.)
type RedisConfig struct{}

func (c *RedisConfig) newProber(*Probe) (prober, error) { return redisProber{}, nil }

type redisProber struct{}

func (redisProber) probe(context.Context, *Emitter) (bool, error) {
	return false, errors.New("redis probe not implemented yet")
}

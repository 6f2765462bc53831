package probe

import (
	"context"
	"errors"
)

// HTTPConfig configures a http probe. (Placeholder: filled in by the http probe work.)
type HTTPConfig struct{}

func (c *HTTPConfig) newProber(*Probe) (prober, error) { return httpProber{}, nil }

type httpProber struct{}

func (httpProber) probe(context.Context, *Emitter) (bool, error) {
	return false, errors.New("http probe not implemented yet")
}

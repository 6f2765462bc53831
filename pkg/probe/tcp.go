package probe

import (
	"context"
	"errors"
)

// TCPConfig configures a tcp probe. (Placeholder: filled in by the tcp probe work.)
type TCPConfig struct{}

func (c *TCPConfig) newProber(*Probe) (prober, error) { return tcpProber{}, nil }

type tcpProber struct{}

func (tcpProber) probe(context.Context, *Emitter) (bool, error) {
	return false, errors.New("tcp probe not implemented yet")
}

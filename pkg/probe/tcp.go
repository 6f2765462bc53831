package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// TCPConfig configures a tcp probe: a connection to host:port, optionally
// followed by a TLS handshake.
type TCPConfig struct {
	// Address is the host:port to connect to.
	Address string `yaml:"address"`
	// TLS, when enabled, does a TLS handshake after connecting.
	TLS *TCPTLSConfig `yaml:"tls"`
}

// TCPTLSConfig is the tls: of a tcp probe: true, false, or the TLS options,
// which imply true.
type TCPTLSConfig struct {
	// Enabled is set by "tls: true" and by any mapping.
	Enabled         bool `yaml:"-"`
	TLSClientConfig `yaml:",inline"`
}

// UnmarshalYAML validates a tcp probe.
func (c *TCPConfig) UnmarshalYAML(node *yaml.Node) error {
	*c = TCPConfig{}
	type plain TCPConfig
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	if c.Address == "" {
		return yamlconf.Errorf(node, "tcp: address is required")
	}
	at := nodeOfKey(node, "address")
	host, port, err := net.SplitHostPort(c.Address)
	if err != nil {
		return yamlconf.Errorf(at, "tcp: address %q is not host:port", c.Address)
	}
	if host == "" {
		return yamlconf.Errorf(at, "tcp: address %q has no host", c.Address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return yamlconf.Errorf(at, "tcp: address %q: port must be a number from 1 to 65535", c.Address)
	}
	return nil
}

// UnmarshalYAML accepts a boolean or a mapping of TLS options.
func (t *TCPTLSConfig) UnmarshalYAML(node *yaml.Node) error {
	*t = TCPTLSConfig{}
	if node.Kind == yaml.ScalarNode {
		if err := node.Decode(&t.Enabled); err != nil {
			return yamlconf.Errorf(node, "tcp: tls must be true, false or a mapping of ca_file, insecure_skip_verify and server_name")
		}
		return nil
	}
	type plain TCPTLSConfig
	if err := yamlconf.DecodeNode(node, (*plain)(t)); err != nil {
		return err
	}
	t.Enabled = true
	return nil
}

func (c *TCPConfig) resolvePaths(configFile string) {
	if c.TLS != nil {
		c.TLS.CAFile = yamlconf.ResolvePath(configFile, c.TLS.CAFile)
	}
}

func (c *TCPConfig) newProber(*Probe) (prober, error) {
	p := &tcpProber{address: c.Address}
	if c.TLS == nil || !c.TLS.Enabled {
		return p, nil
	}
	tlsConfig, err := c.TLS.build()
	if err != nil {
		return nil, err
	}
	if tlsConfig.ServerName == "" {
		host, _, _ := net.SplitHostPort(c.Address)
		tlsConfig.ServerName = host
	}
	p.tls = tlsConfig
	return p, nil
}

type tcpProber struct {
	address string
	tls     *tls.Config // nil for plain TCP
}

func (p *tcpProber) probe(ctx context.Context, e *Emitter) (bool, error) {
	dialer := &net.Dialer{}
	conn, err := dialer.DialContext(ctx, "tcp", p.address)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			err = opErr.Err // it repeats the address
		}
		return false, fmt.Errorf("connecting to %s: %w", p.address, orCtxErr(ctx, err))
	}
	defer conn.Close()
	if p.tls == nil {
		return true, nil
	}
	tlsConn := tls.Client(conn, p.tls)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return false, fmt.Errorf("tls handshake with %s: %w", p.address, orCtxErr(ctx, err))
	}
	state := tlsConn.ConnectionState()
	if t, ok := chainExpiry(&state); ok {
		e.Gauge("probe_tcp_tls_cert_expiry_timestamp_seconds",
			"Earliest expiry of the certificate chain the tcp probe's target presented, as a Unix time in seconds.",
			float64(t.Unix()))
	}
	return true, nil
}

// orCtxErr returns ctx.Err() once ctx has ended, so that a timeout reads as
// one, and err otherwise.
func orCtxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

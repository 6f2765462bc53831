package probe_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/collector"
	"github.com/klaxonhq/klaxon/pkg/probe"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// netGoldenMetrics are compared with the golden files: everything the http
// and tcp probes emit except durations.
var netGoldenMetrics = []string{
	"klaxon_probe_success",
	"klaxon_probe_http_status_code",
	"klaxon_probe_http_tls_cert_expiry_timestamp_seconds",
	"klaxon_probe_http_health_status",
	"klaxon_probe_http_health_check_status",
	"klaxon_probe_tcp_tls_cert_expiry_timestamp_seconds",
}

// netProbeRun adapts one probe collector to prometheus.Collector and keeps
// the error of its last run.
type netProbeRun struct {
	c   collector.Collector
	err error
}

func (r *netProbeRun) Describe(chan<- *prometheus.Desc) {}

func (r *netProbeRun) Collect(ch chan<- prometheus.Metric) {
	r.err = r.c.Update(context.Background(), ch)
}

// netTestCollector decodes a config holding one probe and builds its
// collector.
func netTestCollector(t *testing.T, yamlText string) collector.Collector {
	t.Helper()
	cfg := &probe.Config{}
	if err := yamlconf.Decode("probes.yml", []byte(yamlText), cfg); err != nil {
		t.Fatalf("decoding config: %v", err)
	}
	collectors, err := cfg.Collectors(promslog.NewNopLogger())
	if err != nil {
		t.Fatalf("building probes: %v", err)
	}
	if len(collectors) != 1 {
		t.Fatalf("got %d probes, want 1", len(collectors))
	}
	for _, c := range collectors {
		return c
	}
	return nil
}

// runNetGolden runs the probe, compares its metrics with testdata/<golden>
// and returns the probe's error.
func runNetGolden(t *testing.T, c collector.Collector, golden string) error {
	t.Helper()
	run := &netProbeRun{c: c}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(run)
	testkit.GoldenMetrics(t, filepath.Join("testdata", golden), reg, netGoldenMetrics...)
	return run.err
}

// netTestCert makes a self-signed certificate for health.klaxon.test that
// expires at notAfter, and writes it as PEM to a file for ca_file.
func netTestCert(t *testing.T, notAfter time.Time) (cert tls.Certificate, caFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "health.klaxon.test"},
		DNSNames:              []string{"health.klaxon.test"},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

// certNotAfter is the expiry of the known test certificate:
// 2099-01-01T00:00:00Z, 4070908800 as a Unix time.
var certNotAfter = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)

func TestTCPConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{
			name: "missing address",
			yaml: `
probes:
  - name: svc
    tcp:
      tls: true
`,
			want: `probes.yml:5: tcp: address is required`,
		},
		{
			name: "no port",
			yaml: `
probes:
  - name: svc
    tcp:
      address: db.internal
`,
			want: `probes.yml:5: tcp: address "db.internal" is not host:port`,
		},
		{
			name: "no host",
			yaml: `
probes:
  - name: svc
    tcp:
      address: ":5432"
`,
			want: `probes.yml:5: tcp: address ":5432" has no host`,
		},
		{
			name: "port out of range",
			yaml: `
probes:
  - name: svc
    tcp:
      address: db.internal:70000
`,
			want: `probes.yml:5: tcp: address "db.internal:70000": port must be a number from 1 to 65535`,
		},
		{
			name: "named port",
			yaml: `
probes:
  - name: svc
    tcp:
      address: db.internal:postgres
`,
			want: `probes.yml:5: tcp: address "db.internal:postgres": port must be a number from 1 to 65535`,
		},
		{
			name: "tls neither bool nor mapping",
			yaml: `
probes:
  - name: svc
    tcp:
      address: db.internal:5432
      tls: maybe
`,
			want: `probes.yml:6: tcp: tls must be true, false or a mapping of ca_file, insecure_skip_verify and server_name`,
		},
		{
			name: "unknown tls key",
			yaml: `
probes:
  - name: svc
    tcp:
      address: db.internal:5432
      tls:
        ca: ca.pem
`,
			want: `probes.yml:7: unknown key "ca" (known keys: ca_file, insecure_skip_verify, server_name)`,
		},
		{
			name: "unknown key",
			yaml: `
probes:
  - name: svc
    tcp:
      address: db.internal:5432
      port: 5432
`,
			want: `probes.yml:6: unknown key "port" (known keys: address, tls)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := yamlconf.Decode("probes.yml", []byte(tc.yaml), &probe.Config{})
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTCPConfigFile(t *testing.T) {
	cfg, err := probe.LoadFile("testdata/tcp-good.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := &probe.Config{Probes: []probe.Probe{
		{Name: "db", Timeout: probe.DefaultTimeout, TCP: &probe.TCPConfig{Address: "db.internal:5432"}},
		{Name: "db-plain", Timeout: probe.DefaultTimeout, TCP: &probe.TCPConfig{
			Address: "db.internal:5432", TLS: &probe.TCPTLSConfig{Enabled: false},
		}},
		{Name: "smtp", Timeout: 2 * time.Second, TCP: &probe.TCPConfig{
			Address: "mail.internal:465", TLS: &probe.TCPTLSConfig{Enabled: true},
		}},
		{Name: "ldap", Timeout: probe.DefaultTimeout, TCP: &probe.TCPConfig{
			Address: "10.0.0.7:636",
			TLS: &probe.TCPTLSConfig{Enabled: true, TLSClientConfig: probe.TLSClientConfig{
				CAFile:     filepath.Join("testdata", "tcp-ca.pem"),
				ServerName: "ldap.internal",
			}},
		}},
	}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestTCPConnects(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go acceptAndClose(l)

	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: svc
    tcp:
      address: %s
`, l.Addr()))
	if err := runNetGolden(t, c, "tcp-connect.prom"); err != nil {
		t.Errorf("probe failed: %v", err)
	}
}

func TestTCPClosedPort(t *testing.T) {
	addr := closedAddr(t)
	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: svc
    tcp:
      address: %s
`, addr))
	err := runNetGolden(t, c, "tcp-failed.prom")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("error %v, want connection refused", err)
	}
	want := fmt.Sprintf(`tcp probe "svc": connecting to %s: connect: connection refused`, addr)
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestTCPTLSExpiry(t *testing.T) {
	cert, caFile := netTestCert(t, certNotAfter)
	addr := tlsListener(t, cert)
	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: svc
    tcp:
      address: %s
      tls:
        ca_file: %s
        server_name: health.klaxon.test
`, addr, caFile))
	if err := runNetGolden(t, c, "tcp-tls.prom"); err != nil {
		t.Errorf("probe failed: %v", err)
	}
}

func TestTCPTLSUnknownAuthority(t *testing.T) {
	cert, _ := netTestCert(t, certNotAfter)
	addr := tlsListener(t, cert)
	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: svc
    tcp:
      address: %s
      tls:
        server_name: health.klaxon.test
`, addr))
	err := runNetGolden(t, c, "tcp-failed.prom")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("error %v, want an unknown authority error", err)
	}
	if want := fmt.Sprintf(`tcp probe "svc": tls handshake with %s: `, addr); !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

func TestTCPTLSHandshakeTimeout(t *testing.T) {
	// The listener accepts but never answers the handshake until cleanup.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { l.Close() })
	t.Cleanup(func() { close(release) })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				<-release
				conn.Close()
			}()
		}
	}()

	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: svc
    timeout: 200ms
    tcp:
      address: %s
      tls: true
`, l.Addr()))
	err = runNetGolden(t, c, "tcp-failed.prom")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a timeout", err)
	}
	want := fmt.Sprintf(`tcp probe "svc": timed out after 200ms: tls handshake with %s: context deadline exceeded`, l.Addr())
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func acceptAndClose(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		conn.Close()
	}
}

// tlsListener serves TLS handshakes with cert until the test ends.
func tlsListener(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = conn.(*tls.Conn).Handshake()
				conn.Close()
			}()
		}
	}()
	return l.Addr().String()
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/klaxonhq/klaxon/pkg/testenv"
)

// TestWebConfig runs the built klaxon-receiver with --web.config.file
// asking for TLS and basic auth, and talks to it over real TLS.
func TestWebConfig(t *testing.T) {
	bin := testenv.Binary(t, "klaxon-receiver")
	dir := t.TempDir()
	wc := writeWebConfig(t, dir)
	addr := testenv.FreeAddr(t)
	config := writeConfig(t, dir, addr, newFakes(t), "")
	p := testenv.StartProcess(t, "", bin, "--config.file="+config, "--web.listen-address="+addr, "--web.config.file="+wc.file)
	base := "https://" + addr
	wc.awaitReady(t, p, base+"/-/ready")

	for _, path := range []string{"/metrics", "/-/ready", "/"} {
		wc.checkAuth(t, base+path)
	}
	wc.checkTLS(t, addr)

	// Alertmanager's webhook needs the password too.
	hook := base + "/webhook/chat"
	body := encode(t, message("WebConfig", "firing"))
	if resp, _, err := wc.post(t, hook, "", "", body); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST %s without credentials: %v %v, want 401", hook, status(resp), err)
	}
	if resp, answer, err := wc.post(t, hook, wc.user, wc.password, body); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("POST %s with the right password: %v %q %v, want 200", hook, status(resp), answer, err)
	}
}

func status(resp *http.Response) string {
	if resp == nil {
		return "no answer"
	}
	return resp.Status
}

// webConfig is an exporter-toolkit web config with TLS from a self-signed
// certificate and one basic-auth user.
type webConfig struct {
	file           string
	cert           *x509.Certificate
	roots          *x509.CertPool
	user, password string
}

// writeWebConfig writes a self-signed certificate for 127.0.0.1, its key
// and a web config using them and a bcrypt-hashed password into dir.
func writeWebConfig(t *testing.T, dir string) *webConfig {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "klaxon test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "cert.pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, "key.pem"), "PRIVATE KEY", keyDER)

	wc := &webConfig{file: filepath.Join(dir, "web.yml"), cert: cert, roots: x509.NewCertPool(),
		user: "prometheus", password: "s3cret pass"}
	wc.roots.AddCert(cert)
	hash, err := bcrypt.GenerateFromPassword([]byte(wc.password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Paths are relative to the web config's directory.
	config := fmt.Sprintf("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  %s: %s\n", wc.user, hash)
	if err := os.WriteFile(wc.file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return wc
}

func writePEM(t *testing.T, file, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// client trusts only the test certificate.
func (wc *webConfig) client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: wc.roots}}}
}

// get requests url over TLS with the given credentials ("" user: none) and
// returns the response with its body read.
func (wc *webConfig) get(t *testing.T, url, user, password string) (*http.Response, string, error) {
	t.Helper()
	return wc.do(t, http.MethodGet, url, user, password, nil)
}

// post is get for a POST of a JSON body.
func (wc *webConfig) post(t *testing.T, url, user, password string, body []byte) (*http.Response, string, error) {
	t.Helper()
	return wc.do(t, http.MethodPost, url, user, password, body)
}

func (wc *webConfig) do(t *testing.T, method, url, user, password string, body []byte) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := wc.client().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// awaitReady waits until url answers 200 to the right credentials.
func (wc *webConfig) awaitReady(t *testing.T, p *testenv.Process, url string) {
	t.Helper()
	testenv.Eventually(t, startTimeout, func() error {
		if p.HasExited() {
			t.Fatalf("exited: %v\n%s", p.Cmd.ProcessState, p.Output())
		}
		resp, _, err := wc.get(t, url, wc.user, wc.password)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

// checkAuth checks that url answers 200 over TLS with the server's
// certificate to the right password, 401 to a wrong one or none, and
// refuses plain HTTP.
func (wc *webConfig) checkAuth(t *testing.T, url string) {
	t.Helper()
	resp, _, err := wc.get(t, url, wc.user, wc.password)
	switch {
	case err != nil:
		t.Errorf("%s with the right password: %v", url, err)
	case resp.StatusCode != http.StatusOK:
		t.Errorf("%s with the right password: %s, want 200", url, resp.Status)
	case resp.TLS == nil || !resp.TLS.PeerCertificates[0].Equal(wc.cert):
		t.Errorf("%s: not served with the test certificate", url)
	}
	for _, cred := range []struct{ what, user, password string }{
		{"a wrong password", wc.user, wc.password + "x"},
		{"an unknown user", "nobody", wc.password},
		{"no credentials", "", ""},
	} {
		resp, _, err := wc.get(t, url, cred.user, cred.password)
		switch {
		case err != nil:
			t.Errorf("%s with %s: %v", url, cred.what, err)
		case resp.StatusCode != http.StatusUnauthorized:
			t.Errorf("%s with %s: %s, want 401", url, cred.what, resp.Status)
		case !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic"):
			t.Errorf("%s with %s: WWW-Authenticate %q, want a Basic challenge", url, cred.what, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// Plain HTTP, even with the right password: Go's TLS server answers 400
	// and closes, serving nothing.
	plain := "http://" + strings.TrimPrefix(url, "https://")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(wc.user, wc.password)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte("HTTPS")) {
			t.Errorf("%s over plain HTTP: %s %q, want 400 asking for HTTPS", plain, resp.Status, b)
		}
	}
}

// checkTLS checks that a client that does not trust the test certificate
// cannot complete the handshake.
func (wc *webConfig) checkTLS(t *testing.T, addr string) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: x509.NewCertPool()})
	if err == nil {
		conn.Close()
		t.Fatal("TLS handshake succeeded without trusting the certificate")
	}
	if !errors.As(err, new(x509.UnknownAuthorityError)) {
		t.Errorf("handshake without trusting the certificate: %v, want an unknown authority", err)
	}
}

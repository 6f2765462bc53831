package testenv

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
)

// WebConfig is an exporter-toolkit web config (--web.config.file) with TLS
// from a self-signed certificate for 127.0.0.1 and one basic-auth user,
// and a client for the server that uses it.
type WebConfig struct {
	File           string // the web config
	Cert           *x509.Certificate
	Roots          *x509.CertPool // trusts Cert only
	User, Password string
}

// WriteWebConfig writes a self-signed certificate for 127.0.0.1, its key
// and a web config using them and a bcrypt-hashed password into dir.
func WriteWebConfig(t testing.TB, dir string) *WebConfig {
	t.Helper()
	der, keyDER, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "cert.pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, "key.pem"), "PRIVATE KEY", keyDER)

	wc := &WebConfig{File: filepath.Join(dir, "web.yml"), Cert: cert, Roots: x509.NewCertPool(),
		User: "prometheus", Password: "s3cret pass"}
	wc.Roots.AddCert(cert)
	hash, err := bcrypt.GenerateFromPassword([]byte(wc.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Paths are relative to the web config's directory.
	config := fmt.Sprintf("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  %s: %s\n", wc.User, hash)
	if err := os.WriteFile(wc.File, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return wc
}

// selfSigned makes a certificate for 127.0.0.1, valid for an hour either
// side of now, and its PKCS #8 key, both DER.
func selfSigned() (cert, key []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
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
	if cert, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv); err != nil {
		return nil, nil, err
	}
	key, err = x509.MarshalPKCS8PrivateKey(priv)
	return cert, key, err
}

func writePEM(t testing.TB, file, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Client trusts only the test certificate.
func (wc *WebConfig) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: wc.Roots}}}
}

// Do sends a request with a JSON body (nil: none) over TLS with the given
// credentials ("" user: none) and returns the response with its body read.
func (wc *WebConfig) Do(t testing.TB, method, url, user, password string, body []byte) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := wc.Client().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// AwaitReady waits up to timeout until url answers 200 to the right
// credentials, failing at once if p exits.
func (wc *WebConfig) AwaitReady(t testing.TB, p *Process, url string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		if p.HasExited() {
			t.Fatalf("exited: %v\n%s", p.Cmd.ProcessState, p.Output())
		}
		resp, _, err := wc.Do(t, http.MethodGet, url, wc.User, wc.Password, nil)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

// CheckAuth checks that url answers 200 over TLS with the test
// certificate to the right password, 401 with a Basic challenge to a
// wrong one, an unknown user or none, and serves nothing over plain HTTP.
func (wc *WebConfig) CheckAuth(t testing.TB, url string) {
	t.Helper()
	resp, _, err := wc.Do(t, http.MethodGet, url, wc.User, wc.Password, nil)
	switch {
	case err != nil:
		t.Errorf("%s with the right password: %v", url, err)
	case resp.StatusCode != http.StatusOK:
		t.Errorf("%s with the right password: %s, want 200", url, resp.Status)
	case resp.TLS == nil || !resp.TLS.PeerCertificates[0].Equal(wc.Cert):
		t.Errorf("%s: not served with the test certificate", url)
	}
	for _, cred := range []struct{ what, user, password string }{
		{"a wrong password", wc.User, wc.Password + "x"},
		{"an unknown user", "nobody", wc.Password},
		{"no credentials", "", ""},
	} {
		resp, _, err := wc.Do(t, http.MethodGet, url, cred.user, cred.password, nil)
		switch {
		case err != nil:
			t.Errorf("%s with %s: %v", url, cred.what, err)
		case resp.StatusCode != http.StatusUnauthorized:
			t.Errorf("%s with %s: %s, want 401", url, cred.what, resp.Status)
		case !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic"):
			t.Errorf("%s with %s: WWW-Authenticate %q, want a Basic challenge", url, cred.what, resp.Header.Get("WWW-Authenticate"))
		}
	}
	wc.checkPlain(t, url)
}

// checkPlain checks that plain HTTP to url, even with the right password,
// gets Go's TLS server's 400 asking for HTTPS or no answer at all.
func (wc *WebConfig) checkPlain(t testing.TB, url string) {
	t.Helper()
	plain := "http://" + strings.TrimPrefix(url, "https://")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(wc.User, wc.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte("HTTPS")) {
		t.Errorf("%s over plain HTTP: %s %q, want 400 asking for HTTPS", plain, resp.Status, b)
	}
}

// CheckTLS checks that a client that does not trust the test certificate
// cannot complete the handshake with addr.
func (wc *WebConfig) CheckTLS(t testing.TB, addr string) {
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

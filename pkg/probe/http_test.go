package probe_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/probe"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

func TestHTTPConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, http, want string
	}{
		{
			name: "missing url",
			http: `
      method: GET`,
			want: `probes.yml:5: http: url is required`,
		},
		{
			name: "not http",
			http: `
      url: ftp://user:hunter2@files.internal/health`,
			want: `probes.yml:5: http: url "ftp://user:xxxxx@files.internal/health" must start with http:// or https://`,
		},
		{
			name: "no host",
			http: `
      url: http:///health`,
			want: `probes.yml:5: http: url "http:///health" has no host`,
		},
		{
			name: "unparsable url keeps its password out",
			http: `
      url: "http://user:hunter2@app internal/health"`,
			want: `probes.yml:5: http: url is not a valid URL: invalid character " " in host name`,
		},
		{
			name: "unknown method",
			http: `
      url: http://app.internal/health
      method: FETCH`,
			want: `probes.yml:6: http: method "FETCH" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`,
		},
		{
			name: "both bearer token and file",
			http: `
      url: http://app.internal/health
      bearer_token: hunter2
      bearer_token_file: token`,
			want: `probes.yml:5: http: bearer_token and bearer_token_file are mutually exclusive`,
		},
		{
			name: "authorization header and bearer token",
			http: `
      url: http://app.internal/health
      bearer_token_file: token
      headers:
        authorization: Basic abc`,
			want: `probes.yml:8: http: headers: Authorization conflicts with bearer_token`,
		},
		{
			name: "invalid header name",
			http: `
      url: http://app.internal/health
      headers:
        "X Team": web`,
			want: `probes.yml:7: http: headers: "X Team" is not a valid header name`,
		},
		{
			name: "status code out of range",
			http: `
      url: http://app.internal/health
      valid_status_codes: [200, 42]`,
			want: `probes.yml:6: http: valid_status_codes: 42 is not an HTTP status code`,
		},
		{
			name: "health with HEAD",
			http: `
      url: http://app.internal/health
      method: HEAD
      health: {}`,
			want: `probes.yml:7: http: health needs a body, which method HEAD does not get`,
		},
		{
			name: "health without status or checks",
			http: `
      url: http://app.internal/health
      health:
        status_path: ""
        checks_path: ""`,
			want: `probes.yml:7: http: health: status_path and checks_path cannot both be empty`,
		},
		{
			name: "empty check status path",
			http: `
      url: http://app.internal/health
      health:
        check_status_path: ""`,
			want: `probes.yml:7: http: health: check_status_path cannot be empty`,
		},
		{
			name: "no healthy values",
			http: `
      url: http://app.internal/health
      health:
        healthy_values: []`,
			want: `probes.yml:7: http: health: healthy_values cannot be empty`,
		},
		{
			name: "empty path element",
			http: `
      url: http://app.internal/health
      health:
        status_path: data..status`,
			want: `probes.yml:7: http: health: path "data..status" has an empty element`,
		},
		{
			name: "unknown key",
			http: `
      url: http://app.internal/health
      follow_redirect: false`,
			want: `probes.yml:6: unknown key "follow_redirect" (known keys: bearer_token, bearer_token_file, follow_redirects, headers, health, method, tls, url, valid_status_codes)`,
		},
		{
			name: "unknown tls key",
			http: `
      url: https://app.internal/health
      tls:
        verify: false`,
			want: `probes.yml:7: unknown key "verify" (known keys: ca_file, insecure_skip_verify, server_name)`,
		},
		{
			name: "unknown health key",
			http: `
      url: http://app.internal/health
      health:
        status: ok`,
			want: `probes.yml:7: unknown key "status" (known keys: check_status_path, checks_path, healthy_values, status_path)`,
		},
		{
			name: "tls is not a bool for http",
			http: `
      url: https://app.internal/health
      tls: true`,
			want: `probes.yml:6: http: tls must be a mapping of ca_file, insecure_skip_verify and server_name`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "\nprobes:\n  - name: api\n    http:" + tc.http + "\n"
			err := yamlconf.Decode("probes.yml", []byte(doc), &probe.Config{})
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

func TestHTTPConfigFile(t *testing.T) {
	cfg, err := probe.LoadFile("testdata/http-good.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := &probe.Config{Probes: []probe.Probe{
		{Name: "api", Timeout: probe.DefaultTimeout, HTTP: &probe.HTTPConfig{
			URL: "http://app.internal:8080/healthz", Method: "GET", FollowRedirects: true,
		}},
		{Name: "billing", Timeout: 3 * time.Second, Labels: map[string]string{"team": "payments"}, HTTP: &probe.HTTPConfig{
			URL:              "https://billing.internal/actuator/health",
			Method:           "POST",
			Headers:          map[string]string{"Accept": "application/json"},
			BearerTokenFile:  filepath.Join("testdata", "http-token"),
			ValidStatusCodes: []int{200, 503},
			TLS: &probe.TLSClientConfig{
				CAFile: filepath.Join("testdata", "http-ca.pem"), ServerName: "billing.internal",
			},
			FollowRedirects: false,
			Health: &probe.HTTPHealthConfig{
				StatusPath: "status", ChecksPath: "components", CheckStatusPath: "status",
				HealthyValues: probe.DefaultHealthyValues,
			},
		}},
		{Name: "legacy", Timeout: probe.DefaultTimeout, HTTP: &probe.HTTPConfig{
			URL: "http://legacy.internal/status", Method: "GET", FollowRedirects: true,
			TLS: &probe.TLSClientConfig{InsecureSkipVerify: true},
			Health: &probe.HTTPHealthConfig{
				StatusPath: "", ChecksPath: "data.services", CheckStatusPath: "state.value",
				HealthyValues: []string{"running", "warn"},
			},
		}},
	}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// httpTestServer serves body with status at every path.
func httpTestServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPHealthBodies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		config string // extra keys under http:
	}{
		{name: "plain", status: 200, body: "OK"},
		{
			name: "health-checks", status: 200,
			body: `{"status":"healthy","checks":{"database":{"status":"up"},"cache":{"status":"OK"}}}`,
			config: `
      health: {}`,
		},
		{
			name: "health-spring", status: 200,
			body: `{"status":"UP","components":{"db":{"status":"UP","details":{"database":"PostgreSQL"}},"diskSpace":{"status":"UP"}}}`,
			config: `
      health:
        checks_path: components`,
		},
		{
			name: "health-spring-down", status: 503,
			body: `{"status":"DOWN","components":{"db":{"status":"DOWN"},"ping":{"status":"UP"}}}`,
			config: `
      health:
        checks_path: components`,
		},
		{
			name: "health-ietf", status: 200,
			body: `{"status":"pass","checks":{"db:responseTime":[{"componentId":"a","status":"pass"},{"componentId":"b","status":"pass"}],"uptime":[{"status":"pass"}]}}`,
			config: `
      health: {}`,
		},
		{
			name: "health-ietf-one-entry-fails", status: 200,
			body: `{"checks":{"db:responseTime":[{"componentId":"a","status":"pass"},{"componentId":"b","status":"fail"}],"uptime":[{"status":"pass"}]}}`,
			config: `
      health: {}`,
		},
		{
			name: "health-dotnet", status: 200,
			body: `{"status":"Healthy","totalDuration":"00:00:00.01","entries":{"db":{"status":"Healthy","duration":"00:00:00.005"},"redis":{"status":"Degraded"}}}`,
			config: `
      health:
        checks_path: entries`,
		},
		{
			name: "health-scalars", status: 200,
			body: `{"checks":{"db":"ok","cache":true,"queue":"FAILING","disk":false}}`,
			config: `
      health: {}`,
		},
		{
			name: "health-array", status: 200,
			body: `{"status":"green","checks":[{"name":"db","status":"green"},{"name":"search","status":"red"},{"status":"green"}]}`,
			config: `
      health: {}`,
		},
		{
			name: "health-unhealthy-check", status: 200,
			body: `{"status":"unhealthy","checks":{"database":{"status":"down"},"cache":{"status":"up"}}}`,
			config: `
      health: {}`,
		},
		{
			name: "health-checks-only", status: 200,
			body: `{"checks":{"database":{"status":"down"},"cache":{"status":"up"}}}`,
			config: `
      health: {}`,
		},
		{
			name: "health-custom-paths", status: 200,
			body: `{"data":{"state":"running","services":[{"name":"worker","state":{"value":"WARN"}}]}}`,
			config: `
      health:
        status_path: data.state
        checks_path: data.services
        check_status_path: state.value
        healthy_values: [running, warn]`,
		},
		{
			name: "status-500", status: 500, body: "<html>Internal Server Error</html>",
			config: `
      health: {}`,
		},
		{
			name: "status-valid-codes", status: 503, body: "maintenance",
			config: `
      valid_status_codes: [200, 503]`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httpTestServer(t, tc.status, tc.body)
			c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: api
    labels:
      team: web
    http:
      url: %s/health%s
`, srv.URL, tc.config))
			if err := runNetGolden(t, c, "http-"+tc.name+".prom"); err != nil {
				t.Errorf("probe failed: %v", err)
			}
		})
	}
}

func TestHTTPHealthGarbage(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{
			name: "html",
			body: "<html><body>It works!</body></html>",
			want: `http probe "api": health endpoint returned invalid JSON: "<html><body>It works!</body></html>"`,
		},
		{
			name: "long with control characters",
			body: "\x1b[31mpanic: runtime error\x00\n" + strings.Repeat("goroutine 1 [running]\n", 10),
			want: `http probe "api": health endpoint returned invalid JSON: "\x1b[31mpanic: runtime error\x00\ngoroutine 1 [running]\ngoroutine 1 [ru"...`,
		},
		{
			name: "empty",
			body: "",
			want: `http probe "api": health endpoint returned invalid JSON: ""`,
		},
		{
			name: "json without status or checks",
			body: `{"version":"1.2.3"}`,
			want: `http probe "api": health body has no status at "status" and no checks at "checks": "{\"version\":\"1.2.3\"}"`,
		},
		{
			name: "status is an object",
			body: `{"status":{"code":"ok"}}`,
			want: `http probe "api": health body: "status" is not a string, number or boolean`,
		},
		{
			name: "checks is a string",
			body: `{"status":"ok","checks":"all good"}`,
			want: `http probe "api": health body: "checks" is neither an object nor an array of checks`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httpTestServer(t, http.StatusOK, tc.body)
			c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: api
    http:
      url: %s/health
      health: {}
`, srv.URL))
			err := runNetGolden(t, c, "http-garbage.prom")
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPHealthBodyTooLarge(t *testing.T) {
	srv := httpTestServer(t, http.StatusOK, `{"status":"ok","padding":"`+strings.Repeat("x", 1<<20)+`"}`)
	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: api
    http:
      url: %s/health
      health: {}
`, srv.URL))
	err := runNetGolden(t, c, "http-garbage.prom")
	want := `http probe "api": health body is larger than 1048576 bytes`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close

	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: api
    timeout: 200ms
    http:
      url: %s/health
`, srv.URL))
	err := runNetGolden(t, c, "http-timeout.prom")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a timeout", err)
	}
	want := fmt.Sprintf(`http probe "api": timed out after 200ms: GET %s/health: context deadline exceeded`, srv.URL)
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestHTTPConnectionRefusedRedactsURL(t *testing.T) {
	addr := closedAddr(t)
	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: api
    http:
      url: http://probe:hunter2@%s/health
`, addr))
	err := runNetGolden(t, c, "http-failed.prom")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("error %v, want connection refused", err)
	}
	want := fmt.Sprintf(`http probe "api": GET http://probe:xxxxx@%s/health: dial tcp %s: connect: connection refused`, addr, addr)
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestHTTPBearerTokenFile(t *testing.T) {
	var (
		mu   sync.Mutex
		last string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Header.Get("Authorization")
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer rotated-s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: api
    http:
      url: %s/health
      bearer_token_file: %s
`, srv.URL, tokenFile))

	// The file is read at every probe, so a rotated token needs no reload.
	for _, step := range []struct{ token, golden string }{
		{token: "old-s3cret", golden: "http-unauthorized.prom"},
		{token: "rotated-s3cret", golden: "http-authorized.prom"},
	} {
		if err := os.WriteFile(tokenFile, []byte(step.token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := runNetGolden(t, c, step.golden); err != nil {
			t.Errorf("probe failed: %v", err)
		}
		mu.Lock()
		if want := "Bearer " + step.token; last != want {
			t.Errorf("Authorization %q, want %q", last, want)
		}
		mu.Unlock()
	}

	srv.Close()
	err := runNetGolden(t, c, "http-failed.prom")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v: want an error without the token", err)
	}
}

func TestHTTPBearerTokenFileMissing(t *testing.T) {
	srv := httpTestServer(t, http.StatusOK, "OK")
	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: api
    http:
      url: %s/health
      bearer_token_file: /nonexistent/token
`, srv.URL))
	err := runNetGolden(t, c, "http-failed.prom")
	want := `http probe "api": reading bearer_token_file: open /nonexistent/token: no such file or directory`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestHTTPHeaders(t *testing.T) {
	var got http.Header
	var host, method string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got, host, method = r.Header.Clone(), r.Host, r.Method
	}))
	t.Cleanup(srv.Close)
	c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: api
    http:
      url: %s/health
      method: POST
      bearer_token: s3cret
      headers:
        Host: app.example.com
        X-Probe: klaxon
`, srv.URL))
	if err := runNetGolden(t, c, "http-authorized.prom"); err != nil {
		t.Fatalf("probe failed: %v", err)
	}
	if diff := cmp.Diff([]string{"POST", "app.example.com", "klaxon", "Bearer s3cret"},
		[]string{method, host, got.Get("X-Probe"), got.Get("Authorization")}); diff != "" {
		t.Errorf("method, Host, X-Probe, Authorization (-want +got):\n%s", diff)
	}
}

func TestHTTPRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/old", http.RedirectHandler("/health", http.StatusFound))
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"status":"ok"}`) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name, path, follow, golden, wantErr string
	}{
		{name: "followed", path: "/old", follow: "true", golden: "http-redirect-followed.prom"},
		{name: "not followed", path: "/old", follow: "false", golden: "http-redirect-not-followed.prom"},
		{
			name: "loop", path: "/loop", follow: "true", golden: "http-failed.prom",
			wantErr: fmt.Sprintf(`http probe "api": GET %s/loop: stopped after 10 redirects`, srv.URL),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: api
    http:
      url: %s%s
      follow_redirects: %s
`, srv.URL, tc.path, tc.follow))
			err := runNetGolden(t, c, tc.golden)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.wantErr, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPTLS(t *testing.T) {
	cert, caFile := netTestCert(t, certNotAfter)
	expired, _ := netTestCert(t, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name    string
		cert    tls.Certificate
		tls     string
		golden  string
		wantErr string // a substring: the rest comes from crypto/tls
	}{
		{
			name: "verified", cert: cert, golden: "http-tls.prom",
			tls: fmt.Sprintf("{ca_file: %s, server_name: health.klaxon.test}", caFile),
		},
		{
			name: "wrong name", cert: cert, golden: "http-failed.prom",
			tls:     fmt.Sprintf("{ca_file: %s}", caFile),
			wantErr: "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs",
		},
		{
			name: "unknown authority", cert: cert, golden: "http-failed.prom",
			tls:     "{server_name: health.klaxon.test}",
			wantErr: "x509: certificate signed by unknown authority",
		},
		{
			name: "expired, verification skipped", cert: expired, golden: "http-tls-expired.prom",
			tls: "{insecure_skip_verify: true}",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{tc.cert}}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected
			srv.StartTLS()
			t.Cleanup(srv.Close)
			c := netTestCollector(t, fmt.Sprintf(`
probes:
  - name: api
    http:
      url: %s/health
      tls: %s
`, srv.URL, tc.tls))
			err := runNetGolden(t, c, tc.golden)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("probe failed: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestHTTPBadCAFile(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, caFile, want string }{
		{
			name: "not PEM", caFile: caFile,
			want: fmt.Sprintf(`http probe "api": ca_file %s holds no PEM certificate`, caFile),
		},
		{
			name: "missing", caFile: "/nonexistent/ca.pem",
			want: `http probe "api": reading ca_file: open /nonexistent/ca.pem: no such file or directory`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &probe.Config{}
			doc := fmt.Sprintf(`
probes:
  - name: api
    http:
      url: https://app.internal/health
      tls:
        ca_file: %s
`, tc.caFile)
			if err := yamlconf.Decode("probes.yml", []byte(doc), cfg); err != nil {
				t.Fatal(err)
			}
			_, err := cfg.Collectors(promslog.NewNopLogger())
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

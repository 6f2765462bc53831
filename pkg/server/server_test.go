package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// only makes one of the server's timeouts short and leaves the others at
// a minute, longer than guard: net/http falls back on ReadTimeout when
// ReadHeaderTimeout or IdleTimeout is zero, which must not pass a test
// for either.
func only(set func(*Timeouts)) Timeouts {
	t := Timeouts{ReadHeader: time.Minute, Read: time.Minute, Write: time.Minute, Idle: time.Minute}
	set(&t)
	return t
}

// guard bounds a read that should end because the server closed the
// connection or answered: past it, the server never did.
const guard = 20 * time.Second

// dial serves h through NewServer with timeouts and returns a connection
// to it.
func dial(t *testing.T, h http.Handler, timeouts Timeouts) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h, timeouts)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetReadDeadline(time.Now().Add(guard)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// awaitClose reads until the server closes conn and fails unless it does.
func awaitClose(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open for %v", what, guard)
	}
}

// readResponse reads one answer from conn and returns its status and body.
func readResponse(t *testing.T, r *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp, string(body)
}

// ok answers every request 200.
var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })

func TestDefaultTimeouts(t *testing.T) {
	srv := NewServer(ok, DefaultTimeouts)
	got := Timeouts{ReadHeader: srv.ReadHeaderTimeout, Read: srv.ReadTimeout, Write: srv.WriteTimeout, Idle: srv.IdleTimeout}
	want := Timeouts{ReadHeader: 10 * time.Second, Read: time.Minute, Write: 2 * time.Minute, Idle: 2 * time.Minute}
	if got != want {
		t.Errorf("server timeouts %+v, want %+v", got, want)
	}
}

func TestServerCutsOffTrickledHeaders(t *testing.T) {
	conn := dial(t, ok, only(func(t *Timeouts) { t.ReadHeader = 100 * time.Millisecond }))
	if _, err := io.WriteString(conn, "POST /webhook/critical HTTP/1.1\r\nHost: server\r\n"); err != nil {
		t.Fatal(err)
	}
	awaitClose(t, conn, "headers never finished")
}

func TestServerCutsOffStalledBody(t *testing.T) {
	read := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		read <- err
		http.Error(w, fmt.Sprintf("reading body: %v", err), http.StatusBadRequest)
	})
	conn := dial(t, h, only(func(t *Timeouts) { t.Read = 300 * time.Millisecond }))
	if _, err := io.WriteString(conn, "POST /webhook/critical HTTP/1.1\r\nHost: server\r\nContent-Length: 100\r\n\r\n{\"half\":"); err != nil {
		t.Fatal(err)
	}
	resp, body := readResponse(t, bufio.NewReader(conn))
	if err := <-read; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("reading a body that stops half-way: %v, want the read deadline exceeded", err)
	}
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "timeout") {
		t.Errorf("a body that stops half-way: %d %s, want 400 naming the timeout", resp.StatusCode, body)
	}
}

// TestServerLetsHandlersOutlastRead shows that Read bounds reading the
// request, not the handler: a scrape or a webhook's commit may take longer.
func TestServerLetsHandlersOutlastRead(t *testing.T) {
	const read = 100 * time.Millisecond
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			http.Error(w, context.Cause(r.Context()).Error(), http.StatusServiceUnavailable)
		case <-time.After(3 * read):
			fmt.Fprintln(w, "done")
		}
	})
	conn := dial(t, h, only(func(t *Timeouts) { t.Read = read }))
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: server\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, body := readResponse(t, bufio.NewReader(conn)); resp.StatusCode != http.StatusOK || body != "done\n" {
		t.Errorf("a handler running past the read timeout: %d %q, want 200 done", resp.StatusCode, body)
	}
}

func TestServerClosesIdleConnections(t *testing.T) {
	conn := dial(t, ok, only(func(t *Timeouts) { t.Idle = 200 * time.Millisecond }))
	if _, err := io.WriteString(conn, "GET /-/healthy HTTP/1.1\r\nHost: server\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, _ := readResponse(t, bufio.NewReader(conn))
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("first request: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	awaitClose(t, conn, "an idle kept-alive connection")
}

// flagsFor are the web flags of a server listening on addr without a web
// config.
func flagsFor(addr string) *web.FlagConfig {
	addrs, systemd, config := []string{addr}, false, ""
	return &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &config}
}

func TestRunAnswersRequestsUnderWayWhenContextEnds(t *testing.T) {
	addr := testenv.FreeAddr(t)
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		fmt.Fprintln(w, "answered")
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- Run(ctx, h, flagsFor(addr), DefaultTimeouts, promslog.NewNopLogger()) }()

	testenv.Eventually(t, guard, func() error {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err
	})
	answered := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			defer resp.Body.Close()
			var body []byte
			if body, err = io.ReadAll(resp.Body); err == nil && string(body) != "answered\n" {
				err = fmt.Errorf("answer %d %q", resp.StatusCode, body)
			}
		}
		answered <- err
	}()
	select {
	case <-started:
	case err := <-ran:
		t.Fatalf("Run returned before serving: %v", err)
	case <-time.After(guard):
		t.Fatalf("the request did not reach the handler within %v", guard)
	}
	cancel()
	testenv.Eventually(t, guard, func() error {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return nil
		}
		conn.Close()
		return errors.New("the server still accepts connections")
	})
	select {
	case err := <-ran:
		t.Fatalf("Run returned with a request under way: %v", err)
	default:
	}
	close(release)
	if err := <-answered; err != nil {
		t.Errorf("the request under way at shutdown: %v, want its answer", err)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run: %v, want nil after a shutdown", err)
	}
}

func TestRunReportsListenError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	err = Run(t.Context(), ok, flagsFor(taken.Addr().String()), DefaultTimeouts, promslog.NewNopLogger())
	if err == nil || !strings.Contains(err.Error(), "server stopped") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Run on a taken address: %v, want server stopped: address already in use", err)
	}
}

func TestHandleHealth(t *testing.T) {
	mux := http.NewServeMux()
	HandleHealth(mux, nil)
	conn := dial(t, mux, DefaultTimeouts)
	r := bufio.NewReader(conn)
	for path, want := range map[string]string{"/-/healthy": "Healthy\n", "/-/ready": "Ready\n"} {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: server\r\n\r\n", path)
		if resp, body := readResponse(t, r); resp.StatusCode != http.StatusOK || body != want {
			t.Errorf("%s: %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
	}
}

// TestHandleHealthNotReady answers /-/ready with 503 and the reason while
// the check fails, and 200 once it passes; /-/healthy stays 200.
func TestHandleHealthNotReady(t *testing.T) {
	var reason atomic.Pointer[error]
	down := errors.New("store unavailable: disk is read-only")
	reason.Store(&down)
	mux := http.NewServeMux()
	HandleHealth(mux, func() error { return *reason.Load() })
	conn := dial(t, mux, DefaultTimeouts)
	r := bufio.NewReader(conn)
	var none error
	for _, tc := range []struct {
		path   string
		reason *error
		code   int
		body   string
	}{
		{"/-/ready", &down, http.StatusServiceUnavailable, "Not ready: store unavailable: disk is read-only\n"},
		{"/-/healthy", &down, http.StatusOK, "Healthy\n"},
		{"/-/ready", &none, http.StatusOK, "Ready\n"},
	} {
		reason.Store(tc.reason)
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: server\r\n\r\n", tc.path)
		if resp, body := readResponse(t, r); resp.StatusCode != tc.code || body != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
	}
}

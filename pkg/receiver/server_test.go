package receiver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
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

// startServer serves the harness's webhook through NewServer with
// timeouts and returns a connection to it.
func startServer(t *testing.T, h *harness, timeouts Timeouts) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h.handler, timeouts)
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

func TestServerCutsOffTrickledHeaders(t *testing.T) {
	h := newHarness(t, testConfig(t, ""), sqlite.Options{})
	conn := startServer(t, h, only(func(t *Timeouts) { t.ReadHeader = 100 * time.Millisecond }))
	if _, err := io.WriteString(conn, "POST /webhook/critical HTTP/1.1\r\nHost: receiver\r\n"); err != nil {
		t.Fatal(err)
	}
	awaitClose(t, conn, "headers never finished")
}

func TestServerRefusesStalledBody(t *testing.T) {
	h := newHarness(t, testConfig(t, ""), sqlite.Options{})
	conn := startServer(t, h, only(func(t *Timeouts) { t.Read = 300 * time.Millisecond }))
	body := encode(t, message(`{}:{alertname="A"}`, "firing", "a=firing"))
	head := fmt.Sprintf("POST /webhook/critical HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := io.WriteString(conn, head+string(body[:len(body)/2])); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a body that stops half-way got no answer: %v", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(got), "reading body") || !strings.Contains(string(got), "timeout") {
		t.Errorf("a body that stops half-way: %d %s, want 400 naming the body and the timeout", resp.StatusCode, got)
	}
	if p := h.pending(t); len(p) != 0 {
		t.Errorf("deliveries pending after a cut-off body: %v, want none", p)
	}
}

func TestServerClosesIdleConnections(t *testing.T) {
	h := newHarness(t, testConfig(t, ""), sqlite.Options{})
	conn := startServer(t, h, only(func(t *Timeouts) { t.Idle = 200 * time.Millisecond }))
	body := encode(t, message(`{}:{alertname="A"}`, "firing", "a=firing"))
	fmt.Fprintf(conn, "POST /webhook/critical HTTP/1.1\r\nHost: receiver\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("first request: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	awaitClose(t, conn, "an idle kept-alive connection")
}

package receiver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/server"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// guard bounds a read that should end because the server answered: past
// it, the server never did.
const guard = 20 * time.Second

// dialServer serves the harness's webhook through server.NewServer with
// timeouts and returns a connection to it.
func dialServer(t *testing.T, h *harness, timeouts server.Timeouts) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.NewServer(h.handler, timeouts)
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

// TestServerRefusesStalledBody shows the receiver behind the server both
// binaries run: a webhook whose body stops half-way is answered 400 and
// nothing of it is stored. pkg/server tests the other timeouts.
func TestServerRefusesStalledBody(t *testing.T) {
	h := newHarness(t, testConfig(t, ""), sqlite.Options{})
	conn := dialServer(t, h, server.Timeouts{ReadHeader: time.Minute, Read: 300 * time.Millisecond, Write: time.Minute, Idle: time.Minute})
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

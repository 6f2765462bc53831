package receiver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/server"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// TestServerRefusesStalledBody shows the receiver behind the server both
// binaries run: a webhook whose body stops half-way is answered 400 and
// nothing of it is stored. pkg/server tests the other timeouts.
func TestServerRefusesStalledBody(t *testing.T) {
	h := newHarness(t, testConfig(t, ""), sqlite.Options{})
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = server.NewServer(h.handler, server.Timeouts{ReadHeader: time.Minute, Read: 300 * time.Millisecond, Write: time.Minute, Idle: time.Minute})
	srv.Start()
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Past 20 s, the server never answered.
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
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

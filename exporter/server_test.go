package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// only makes one of the server's timeouts short and leaves the other at a
// minute, longer than guard.
func only(set func(*timeouts)) timeouts {
	t := timeouts{readHeader: time.Minute, idle: time.Minute}
	set(&t)
	return t
}

// guard bounds a read that should end because the server closed the
// connection: past it, the server never did.
const guard = 20 * time.Second

// dialServer serves the exporter's routes through newServer with t and
// returns a connection to it.
func dialServer(t *testing.T, to timeouts) net.Conn {
	t.Helper()
	mux := routes("/metrics", http.NotFoundHandler(), http.NotFoundHandler(), http.NotFoundHandler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(mux, to)
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
	conn := dialServer(t, only(func(t *timeouts) { t.readHeader = 100 * time.Millisecond }))
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: exporter\r\n"); err != nil {
		t.Fatal(err)
	}
	awaitClose(t, conn, "headers never finished")
}

func TestServerClosesIdleConnections(t *testing.T) {
	conn := dialServer(t, only(func(t *timeouts) { t.idle = 200 * time.Millisecond }))
	if _, err := io.WriteString(conn, "GET /-/healthy HTTP/1.1\r\nHost: exporter\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
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

func TestDefaultTimeouts(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), defaultTimeouts)
	if srv.ReadHeaderTimeout != 10*time.Second || srv.IdleTimeout != 2*time.Minute {
		t.Errorf("read-header %s, idle %s; want 10s and 2m", srv.ReadHeaderTimeout, srv.IdleTimeout)
	}
	// A server-wide read or write timeout would cut scrapes longer than it.
	if srv.ReadTimeout != 0 || srv.WriteTimeout != 0 {
		t.Errorf("read %s, write %s; want none", srv.ReadTimeout, srv.WriteTimeout)
	}
}

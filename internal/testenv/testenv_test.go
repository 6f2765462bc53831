package testenv

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddr: the ports are free, outside the ephemeral range that
// outgoing connections draw from, and never the same twice.
func TestFreeAddr(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		addr := FreeAddr(t)
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port < firstFreePort || port > lastFreePort {
			t.Fatalf("port %d outside %d-%d", port, firstFreePort, lastFreePort)
		}
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is not free: %v", addr, err)
		}
		l.Close()
	}
}

package acklink

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestMemoryNoncesReplay(t *testing.T) {
	now := testNow
	n := &MemoryNonces{Now: func() time.Time { return now }}
	ctx := t.Context()
	use := func(nonce string, until time.Time) bool {
		t.Helper()
		first, err := n.Use(ctx, nonce, until)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	until := testNow.Add(time.Hour)
	if !use("a", until) {
		t.Error("first use of a refused")
	}
	if use("a", until) {
		t.Error("second use of a allowed")
	}
	if !use("b", until) {
		t.Error("first use of b refused")
	}
	// Once its token has expired, a nonce is forgotten.
	now = until
	if !use("a", until.Add(time.Hour)) {
		t.Error("a not forgotten after its time")
	}
	if got := len(n.used); got != 1 {
		t.Errorf("%d nonces kept, want 1", got)
	}
}

// Of many concurrent uses of one nonce, exactly one is the first.
func TestMemoryNoncesConcurrent(t *testing.T) {
	var n MemoryNonces
	var wg sync.WaitGroup
	firsts := make(chan bool, 50)
	for range 50 {
		wg.Go(func() {
			first, err := n.Use(context.Background(), "x", time.Now().Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			firsts <- first
		})
	}
	wg.Wait()
	close(firsts)
	count := 0
	for f := range firsts {
		if f {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d first uses, want 1", count)
	}
}

// A replayed token verifies every time; the Nonces refuse its second use.
func TestReplayRefused(t *testing.T) {
	s := signer(t)
	token := s.Sign(incident, ActionAck, testNow.Add(time.Hour), NewNonce())
	n := MemoryNonces{Now: func() time.Time { return testNow }}
	var firsts []bool
	for range 2 {
		c, err := s.VerifyAction(token, ActionAck, testNow)
		if err != nil {
			t.Fatal(err)
		}
		first, err := n.Use(t.Context(), c.Nonce, c.Expires)
		if err != nil {
			t.Fatal(err)
		}
		firsts = append(firsts, first)
	}
	if !firsts[0] || firsts[1] {
		t.Errorf("first uses = %v, want [true false]", firsts)
	}
}

func TestMemoryNoncesCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var n MemoryNonces
	if _, err := n.Use(ctx, "a", testNow); err == nil {
		t.Error("Use with a cancelled context succeeded")
	}
}

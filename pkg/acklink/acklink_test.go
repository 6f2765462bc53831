package acklink

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	testKey   = []byte("0123456789abcdef0123456789abcdef")
	testNow   = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	testNonce = Nonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	incident  = "5f1c3a9e0b7d4c2a8e6f1b3d5c7a9e0b2d4f6a8c0e2b4d6f8a1c3e5b7d9f0a2c"
)

func signer(t *testing.T) *Signer {
	t.Helper()
	s, err := NewSigner(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := signer(t)
	expires := testNow.Add(time.Hour)
	for _, inc := range []string{incident, "", "ünïcode/incident?&#", strings.Repeat("x", 300)} {
		token := s.Sign(inc, ActionAck, expires, testNonce)
		if strings.ContainsAny(token, "+/=") {
			t.Errorf("token %q is not URL-safe", token)
		}
		got, err := s.VerifyAction(token, ActionAck, testNow)
		if err != nil {
			t.Fatalf("VerifyAction(%q): %v", inc, err)
		}
		want := Claims{Incident: inc, Action: ActionAck, Expires: expires, Nonce: "0102030405060708090a0b0c0d0e0f10"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
	}
}

// The format is fixed: a token signed today must verify after an upgrade.
func TestTokenIsStable(t *testing.T) {
	token := signer(t).Sign("inc", ActionAck, time.Unix(1800000000, 0), testNonce)
	// Computed independently: base64url(body || HMAC-SHA256(key, body)).
	const want = "AQNpbmMDYWNrAAAAAGtJ0gABAgMEBQYHCAkKCwwNDg8QhQkb_c_9-NOEj2KyOT_CVnw294zD5Bhki8AI2Rhx-Y4"
	if token != want {
		t.Errorf("token = %q, want %q", token, want)
	}
}

func TestNoncesDiffer(t *testing.T) {
	if a, b := NewNonce(), NewNonce(); a == b {
		t.Errorf("two nonces are equal: %s", a)
	}
	if a, b := GenerateKey(), GenerateKey(); len(a) != MinKeySize || string(a) == string(b) {
		t.Errorf("GenerateKey gave %d bytes, equal twice: %v", len(a), string(a) == string(b))
	}
}

// Every changed byte of a token, and every changed character of its
// encoding, makes it fail.
func TestTampered(t *testing.T) {
	s := signer(t)
	token := s.Sign(incident, ActionAck, testNow.Add(time.Hour), testNonce)
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			b := append([]byte(nil), raw...)
			b[i] ^= flip
			_, err := s.Verify(base64.RawURLEncoding.EncodeToString(b), testNow)
			if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
				t.Errorf("byte %d ^ %#x: err = %v, want bad signature or malformed", i, flip, err)
			}
		}
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range token {
		for _, c := range alphabet {
			if byte(c) == token[i] {
				continue
			}
			changed := token[:i] + string(c) + token[i+1:]
			if _, err := s.Verify(changed, testNow); err == nil {
				t.Fatalf("character %d changed to %q: the token still verifies", i, c)
			}
		}
	}
	for _, cut := range []string{token[:len(token)-1], token + "A", token[1:]} {
		if _, err := s.Verify(cut, testNow); err == nil {
			t.Errorf("Verify(%q) succeeded, want an error", cut)
		}
	}
}

func TestExpired(t *testing.T) {
	s := signer(t)
	expires := testNow.Add(time.Hour)
	token := s.Sign(incident, ActionAck, expires, testNonce)
	if _, err := s.Verify(token, expires.Add(-time.Second)); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	for _, now := range []time.Time{expires, expires.Add(time.Second), expires.Add(365 * 24 * time.Hour)} {
		_, err := s.Verify(token, now)
		if !errors.Is(err, ErrExpired) {
			t.Errorf("at %s: err = %v, want expired", now, err)
		}
	}
	_, err := s.Verify(token, expires)
	if got, want := err.Error(), "token expired at 2026-03-14T10:30:00Z"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// A forged token is a bad signature even when it has also expired.
func TestForgedAndExpired(t *testing.T) {
	other := &Signer{Key: []byte("another key of thirty-two bytes!")}
	token := other.Sign(incident, ActionAck, testNow.Add(-time.Hour), testNonce)
	if _, err := signer(t).Verify(token, testNow); !errors.Is(err, ErrBadSignature) {
		t.Errorf("err = %v, want bad signature", err)
	}
}

func TestWrongKey(t *testing.T) {
	token := signer(t).Sign(incident, ActionAck, testNow.Add(time.Hour), testNonce)
	other := &Signer{Key: append([]byte("X"), testKey[1:]...)}
	if _, err := other.Verify(token, testNow); !errors.Is(err, ErrBadSignature) {
		t.Errorf("err = %v, want bad signature", err)
	}
}

func TestWrongAction(t *testing.T) {
	s := signer(t)
	token := s.Sign(incident, "resolve", testNow.Add(time.Hour), testNonce)
	_, err := s.VerifyAction(token, ActionAck, testNow)
	if !errors.Is(err, ErrWrongAction) {
		t.Fatalf("err = %v, want wrong action", err)
	}
	if got, want := err.Error(), `token is for another action: "resolve", not "ack"`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestShortKey(t *testing.T) {
	if _, err := NewSigner(testKey[:31]); err == nil || err.Error() != "ack link key is 31 bytes, and must be at least 32" {
		t.Errorf("NewSigner(31 bytes): err = %v", err)
	}
	// A Signer built by hand with a short key verifies nothing, not even
	// its own tokens.
	weak := &Signer{}
	token := weak.Sign(incident, ActionAck, testNow.Add(time.Hour), testNonce)
	if _, err := weak.Verify(token, testNow); !errors.Is(err, ErrKeyTooShort) {
		t.Errorf("err = %v, want key too short", err)
	}
}

func TestMalformed(t *testing.T) {
	s := signer(t)
	enc := base64.RawURLEncoding.EncodeToString
	signed := func(body []byte) string { return enc(append(body, s.mac(body)...)) }
	tests := []struct {
		name, token, err string
	}{
		{"empty", "", "malformed token: unknown version or too short"},
		{"padding", s.Sign("i", ActionAck, testNow.Add(time.Hour), testNonce) + "=", "malformed token: not base64url"},
		{"standard alphabet", "AQ+/", "malformed token: not base64url"},
		{"spaces", "AQ AQ", "malformed token: not base64url"},
		{"version only", enc([]byte{1}), "malformed token: unknown version or too short"},
		{"version 2", enc(append([]byte{2}, make([]byte, 60)...)), "malformed token: unknown version or too short"},
		{"too long", strings.Repeat("A", 2049), "malformed token: longer than 2048 characters"},
		{"no fields", signed([]byte{1}), "malformed token: bad incident field"},
		{"incident overruns", signed([]byte{1, 200, 'a'}), "malformed token: bad incident field"},
		{"huge length", signed([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), "malformed token: bad incident field"},
		{"no action", signed([]byte{1, 1, 'a'}), "malformed token: bad action field"},
		{"no nonce", signed([]byte{1, 1, 'a', 1, 'b', 0, 0, 0, 0, 0, 0, 0, 1}), "malformed token: bad expiry and nonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Verify(tt.token, testNow)
			if err == nil {
				t.Fatal("Verify succeeded")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want malformed", err)
			}
			if got := err.Error(); got != tt.err {
				t.Errorf("error = %q, want %q", got, tt.err)
			}
		})
	}
}

// Errors never quote the key.
func TestErrorsHideKey(t *testing.T) {
	s := signer(t)
	tokens := []string{"", "!!", s.Sign(incident, "x", testNow, testNonce), string(testKey)}
	for _, token := range tokens {
		for _, now := range []time.Time{testNow, testNow.Add(time.Hour)} {
			_, err := s.VerifyAction(token, ActionAck, now)
			if err != nil && strings.Contains(err.Error(), string(testKey)) {
				t.Errorf("error %q quotes the key", err)
			}
		}
	}
}

func FuzzVerify(f *testing.F) {
	s := &Signer{Key: testKey}
	f.Add(s.Sign(incident, ActionAck, testNow.Add(time.Hour), testNonce))
	f.Add(s.Sign("", "", time.Unix(0, 0), Nonce{}))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.Verify(token, testNow)
		if err != nil {
			return
		}
		// Whatever verifies is exactly what Sign makes of its claims.
		nonce, ok := decodeNonce(c.Nonce)
		if !ok {
			t.Fatalf("nonce %q is not %d hex bytes", c.Nonce, NonceSize)
		}
		if again := s.Sign(c.Incident, c.Action, c.Expires, nonce); again != token {
			t.Fatalf("token %q verified, but its claims sign as %q", token, again)
		}
	})
}

func decodeNonce(s string) (Nonce, bool) {
	var n Nonce
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != NonceSize {
		return n, false
	}
	copy(n[:], b)
	return n, true
}

// Package acklink signs and verifies the acknowledgement links that Klaxon
// puts in Slack and Discord messages. A link carries a token naming one
// incident and one action, with an expiry and a random nonce, signed with
// HMAC-SHA256 under a key only the receiver holds, so that only the holders
// of a message can use its link, and only until it expires.
//
// Verify does not remember tokens: the caller marks a token's nonce used
// through Nonces once it acts on it, so that a replayed link is refused.
package acklink

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// ActionAck is the action of an acknowledgement link.
const ActionAck = "ack"

// MinKeySize is the shortest key, in bytes, that Signer accepts: as long as
// the HMAC-SHA256 output, as RFC 2104 recommends.
const MinKeySize = 32

// DefaultLifetime is how long an acknowledgement link works unless the
// caller chooses otherwise: long enough to outlive a night's escalation,
// short enough that an old message in a channel's history is harmless.
const DefaultLifetime = 24 * time.Hour

// NonceSize is the length of a token's random nonce, in bytes.
const NonceSize = 16

// tokenVersion is the first byte of every token, so that the format can
// change without old tokens being misread.
const tokenVersion = 1

// macSize is the length of the HMAC-SHA256 that ends a token.
const macSize = sha256.Size

// maxTokenLength bounds the encoded tokens that Verify decodes at all.
const maxTokenLength = 2048

// The errors of Verify. Each is returned wrapped, with detail that never
// quotes the key.
var (
	// ErrMalformed: the token is not one that Sign produces.
	ErrMalformed = errors.New("malformed token")
	// ErrBadSignature: the token was not signed with this key, or was
	// changed since.
	ErrBadSignature = errors.New("bad token signature")
	// ErrExpired: the token was genuine but its time is up.
	ErrExpired = errors.New("token expired")
	// ErrWrongAction: the token is genuine but grants another action.
	ErrWrongAction = errors.New("token is for another action")
	// ErrKeyTooShort: the signer's key is shorter than MinKeySize, so no
	// token verifies.
	ErrKeyTooShort = fmt.Errorf("ack link key is shorter than %d bytes", MinKeySize)
)

// encoding is unpadded base64url, strict so that every token has exactly
// one spelling.
var encoding = base64.RawURLEncoding.Strict()

// Nonce is the random part of a token, which makes every link unique and
// lets the receiver refuse a link's second use.
type Nonce [NonceSize]byte

// NewNonce returns a random nonce.
func NewNonce() Nonce {
	var n Nonce
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails
	return n
}

// String is the nonce in hex, as Claims and Nonces carry it.
func (n Nonce) String() string { return hex.EncodeToString(n[:]) }

// Claims is what a verified token says.
type Claims struct {
	// Incident is the incident's ID, its incident key.
	Incident string
	// Action is what the link does, such as ActionAck.
	Action string
	// Expires is when the token stops working, to the second.
	Expires time.Time
	// Nonce identifies this token, in hex, for Nonces.
	Nonce string
}

// Signer signs and verifies tokens with Key, which must be at least
// MinKeySize bytes of secret; NewSigner checks it.
type Signer struct {
	Key []byte
}

// NewSigner returns a Signer for key, or an error if the key is too short.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("ack link key is %d bytes, and must be at least %d", len(key), MinKeySize)
	}
	return &Signer{Key: key}, nil
}

// GenerateKey returns a random key of MinKeySize bytes, for a receiver
// that has none configured. Links signed with it stop working when the
// process restarts.
func GenerateKey() []byte {
	key := make([]byte, MinKeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	return key
}

// Sign returns a URL-safe token that grants action on incident until
// expires (truncated to the second). The token is the version byte, the
// incident and the action each prefixed by its length, the expiry in Unix
// seconds, the nonce, and an HMAC-SHA256 of all of that, in unpadded
// base64url.
func (s *Signer) Sign(incident, action string, expires time.Time, nonce Nonce) string {
	b := []byte{tokenVersion}
	b = binary.AppendUvarint(b, uint64(len(incident)))
	b = append(b, incident...)
	b = binary.AppendUvarint(b, uint64(len(action)))
	b = append(b, action...)
	b = binary.BigEndian.AppendUint64(b, uint64(expires.Unix()))
	b = append(b, nonce[:]...)
	b = append(b, s.mac(b)...)
	return encoding.EncodeToString(b)
}

// Verify checks token and returns its claims. It fails with ErrMalformed,
// ErrBadSignature or ErrExpired (wrapped), checked in that order, so that
// a forged token is never reported as merely expired. A token expires at
// its expiry time exactly. Verify does not consume the token; see Nonces.
func (s *Signer) Verify(token string, now time.Time) (Claims, error) {
	if len(s.Key) < MinKeySize {
		return Claims{}, ErrKeyTooShort
	}
	if len(token) > maxTokenLength {
		return Claims{}, fmt.Errorf("%w: longer than %d characters", ErrMalformed, maxTokenLength)
	}
	b, err := encoding.DecodeString(token)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: not base64url", ErrMalformed)
	}
	if len(b) < 1+macSize || b[0] != tokenVersion {
		return Claims{}, fmt.Errorf("%w: unknown version or too short", ErrMalformed)
	}
	body, sum := b[:len(b)-macSize], b[len(b)-macSize:]
	if !hmac.Equal(sum, s.mac(body)) {
		return Claims{}, ErrBadSignature
	}
	c, err := parse(body[1:])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !now.Before(c.Expires) {
		return Claims{}, fmt.Errorf("%w at %s", ErrExpired, c.Expires.UTC().Format(time.RFC3339))
	}
	return c, nil
}

// VerifyAction is Verify, and also fails with ErrWrongAction unless the
// token grants action.
func (s *Signer) VerifyAction(token, action string, now time.Time) (Claims, error) {
	c, err := s.Verify(token, now)
	if err != nil {
		return Claims{}, err
	}
	if c.Action != action {
		return Claims{}, fmt.Errorf("%w: %q, not %q", ErrWrongAction, c.Action, action)
	}
	return c, nil
}

func (s *Signer) mac(b []byte) []byte {
	m := hmac.New(sha256.New, s.Key)
	m.Write(b)
	return m.Sum(nil)
}

// parse reads the fields after the version byte.
func parse(b []byte) (Claims, error) {
	incident, b, ok := field(b)
	if !ok {
		return Claims{}, errors.New("bad incident field")
	}
	action, b, ok := field(b)
	if !ok {
		return Claims{}, errors.New("bad action field")
	}
	if len(b) != 8+NonceSize {
		return Claims{}, errors.New("bad expiry and nonce")
	}
	expires := int64(binary.BigEndian.Uint64(b))
	return Claims{
		Incident: incident,
		Action:   action,
		Expires:  time.Unix(expires, 0).UTC(),
		Nonce:    hex.EncodeToString(b[8:]),
	}, nil
}

// field reads one length-prefixed string off b.
func field(b []byte) (string, []byte, bool) {
	n, size := binary.Uvarint(b)
	if size <= 0 || n > uint64(len(b)-size) {
		return "", nil, false
	}
	b = b[size:]
	return string(b[:n]), b[n:], true
}

// URL returns the acknowledgement link of an incident, valid until
// expires, for the notifiers to put in messages: the status page serves
// it under base/ack/. base is the receiver's external URL; a nil base
// gives a path.
func (s *Signer) URL(base *url.URL, incident string, expires time.Time) string {
	if base == nil {
		base = &url.URL{Path: "/"}
	}
	token := s.Sign(incident, ActionAck, expires, NewNonce())
	return base.JoinPath("ack", token).String()
}

package statuspage

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// The status page's forms are protected by a signed double-submit cookie:
// the browser holds a random session in a cookie, and each form carries an
// HMAC of that session under a key derived from the link key. Another
// site can make the browser send the cookie but cannot read it, nor
// compute the form's token, nor plant a working pair of its own.

// csrfCookie is the cookie that holds the session.
const csrfCookie = "klaxon_csrf"

// sessionSize is the session's length in random bytes.
const sessionSize = 32

var tokenEncoding = base64.RawURLEncoding.Strict()

// session returns the browser's session, setting a new cookie when it has
// none or a malformed one.
func (h *handler) session(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validSession(c.Value) {
		return c.Value
	}
	b := make([]byte, sessionSize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	s := tokenEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name:     csrfCookie,
		Value:    s,
		Path:     h.base,
		HttpOnly: true,
		Secure:   h.secure || r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
	return s
}

func validSession(s string) bool {
	b, err := tokenEncoding.DecodeString(s)
	return err == nil && len(b) == sessionSize
}

// csrfToken is the form token of a session.
func (h *handler) csrfToken(session string) string {
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte(session))
	return tokenEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether the parsed form's token matches the cookie.
func (h *handler) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validSession(c.Value) {
		return false
	}
	want := h.csrfToken(c.Value)
	return hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(want))
}

package instrument

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is the cheapest possible http.ResponseWriter, so that the
// benchmark measures the middleware rather than a recorder. Like net/http's
// HTTP/1 writer it is also a Flusher, Hijacker and ReaderFrom.
type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w discardWriter) WriteHeader(int)             {}
func (w discardWriter) Flush()                      {}

func (w discardWriter) ReadFrom(r io.Reader) (int64, error) { return io.Copy(io.Discard, r) }

func (w discardWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("not hijackable")
}

// BenchmarkMiddleware compares a do-nothing handler behind a ServeMux with
// and without the middleware; the wrapped case reports the difference as
// overhead-ns/req.
func BenchmarkMiddleware(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(http.ResponseWriter, *http.Request) {})
	m := New(nil, Options{})
	var bareNs float64

	run := func(b *testing.B, h http.Handler) float64 {
		b.ReportAllocs()
		w := discardWriter{h: http.Header{}}
		r := httptest.NewRequest("GET", "/users/42", nil)
		n := 0
		for b.Loop() {
			h.ServeHTTP(w, r)
			n++
		}
		return float64(b.Elapsed().Nanoseconds()) / float64(n)
	}
	b.Run("bare", func(b *testing.B) {
		bareNs = run(b, mux)
	})
	b.Run("wrapped", func(b *testing.B) {
		ns := run(b, m.Wrap(mux))
		if bareNs > 0 {
			b.ReportMetric(ns-bareNs, "overhead-ns/req")
		}
	})
}

package instrument

import (
	"io"
	"net/http"
)

// recorder remembers the status code a handler wrote. Unwrap lets
// http.ResponseController reach the writer underneath.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// WriteHeader records the first final status code. Informational codes
// (1xx) other than 101 Switching Protocols may precede it.
func (w *recorder) WriteHeader(code int) {
	if !w.wrote && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	w.implicitOK()
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// implicitOK records the 200 that net/http sends when a handler writes a
// body or flushes before calling WriteHeader.
func (w *recorder) implicitOK() {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
}

// code returns the status code the client received, 200 if the handler
// wrote nothing.
func (w *recorder) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}

type flusher struct{ *recorder }

func (f flusher) Flush() {
	f.implicitOK()
	f.ResponseWriter.(http.Flusher).Flush()
}

type readerFrom struct{ *recorder }

func (f readerFrom) ReadFrom(r io.Reader) (int64, error) {
	f.implicitOK()
	return f.ResponseWriter.(io.ReaderFrom).ReadFrom(r)
}

// Bits of the optional interfaces the underlying writer implements, used
// as an index into wrappers.
const (
	hasFlusher = 1 << iota
	hasHijacker
	hasReaderFrom
	hasPusher
)

// wrap returns the recorder as a writer that implements the same optional
// interfaces as the one it wraps, so that type assertions in handlers keep
// working.
func (w *recorder) wrap() http.ResponseWriter {
	i := 0
	if _, ok := w.ResponseWriter.(http.Flusher); ok {
		i |= hasFlusher
	}
	if _, ok := w.ResponseWriter.(http.Hijacker); ok {
		i |= hasHijacker
	}
	if _, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		i |= hasReaderFrom
	}
	if _, ok := w.ResponseWriter.(http.Pusher); ok {
		i |= hasPusher
	}
	return wrappers[i](w)
}

// Hijacking and pushing do not change the recorded status, so those
// interfaces are the underlying writer's own.
var wrappers = [16]func(*recorder) http.ResponseWriter{
	func(w *recorder) http.ResponseWriter { return w },
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Flusher
		}{w, flusher{w}}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Hijacker
		}{w, hijacker(w)}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Flusher
			http.Hijacker
		}{w, flusher{w}, hijacker(w)}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			io.ReaderFrom
		}{w, readerFrom{w}}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Flusher
			io.ReaderFrom
		}{w, flusher{w}, readerFrom{w}}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Hijacker
			io.ReaderFrom
		}{w, hijacker(w), readerFrom{w}}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Flusher
			http.Hijacker
			io.ReaderFrom
		}{w, flusher{w}, hijacker(w), readerFrom{w}}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Pusher
		}{w, pusher(w)}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Flusher
			http.Pusher
		}{w, flusher{w}, pusher(w)}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Hijacker
			http.Pusher
		}{w, hijacker(w), pusher(w)}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Flusher
			http.Hijacker
			http.Pusher
		}{w, flusher{w}, hijacker(w), pusher(w)}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			io.ReaderFrom
			http.Pusher
		}{w, readerFrom{w}, pusher(w)}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Flusher
			io.ReaderFrom
			http.Pusher
		}{w, flusher{w}, readerFrom{w}, pusher(w)}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Hijacker
			io.ReaderFrom
			http.Pusher
		}{w, hijacker(w), readerFrom{w}, pusher(w)}
	},
	func(w *recorder) http.ResponseWriter {
		return struct {
			*recorder
			http.Flusher
			http.Hijacker
			io.ReaderFrom
			http.Pusher
		}{w, flusher{w}, hijacker(w), readerFrom{w}, pusher(w)}
	},
}

func hijacker(w *recorder) http.Hijacker { return w.ResponseWriter.(http.Hijacker) }

func pusher(w *recorder) http.Pusher { return w.ResponseWriter.(http.Pusher) }

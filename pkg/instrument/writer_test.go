package instrument

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fullWriter implements every optional interface and logs their use.
type fullWriter struct {
	httptest.ResponseRecorder
	calls []string
}

func (w *fullWriter) Flush() { w.calls = append(w.calls, "Flush") }

func (w *fullWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.calls = append(w.calls, "Hijack")
	return nil, nil, nil
}

func (w *fullWriter) ReadFrom(r io.Reader) (int64, error) {
	w.calls = append(w.calls, "ReadFrom")
	return io.Copy(&w.ResponseRecorder, r)
}

func (w *fullWriter) Push(target string, _ *http.PushOptions) error {
	w.calls = append(w.calls, "Push "+target)
	return nil
}

// bareWriter implements http.ResponseWriter only.
type bareWriter struct{ http.ResponseWriter }

// hijackWriter implements http.ResponseWriter and http.Hijacker only.
type hijackWriter struct {
	http.ResponseWriter
	http.Hijacker
}

func interfaces(w http.ResponseWriter) int {
	i := 0
	if _, ok := w.(http.Flusher); ok {
		i |= hasFlusher
	}
	if _, ok := w.(http.Hijacker); ok {
		i |= hasHijacker
	}
	if _, ok := w.(io.ReaderFrom); ok {
		i |= hasReaderFrom
	}
	if _, ok := w.(http.Pusher); ok {
		i |= hasPusher
	}
	return i
}

func TestWrappersImplementTheirIndex(t *testing.T) {
	for i, wrap := range wrappers {
		w := wrap(&recorder{ResponseWriter: &fullWriter{}})
		if got := interfaces(w); got != i {
			t.Errorf("wrappers[%04b] implements %04b", i, got)
		}
		if _, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok {
			t.Errorf("wrappers[%04b] has no Unwrap method", i)
		}
	}
}

func TestWrapKeepsInterfaces(t *testing.T) {
	full := &fullWriter{}
	for name, tc := range map[string]struct {
		w    http.ResponseWriter
		want int
	}{
		"bare":     {bareWriter{httptest.NewRecorder()}, 0},
		"hijacker": {hijackWriter{httptest.NewRecorder(), full}, hasHijacker},
		"recorder": {httptest.NewRecorder(), hasFlusher},
		"full":     {full, hasFlusher | hasHijacker | hasReaderFrom | hasPusher},
	} {
		if got := interfaces((&recorder{ResponseWriter: tc.w}).wrap()); got != tc.want {
			t.Errorf("%s: wrapped writer implements %04b, want %04b", name, got, tc.want)
		}
	}
}

func TestWrapDelegates(t *testing.T) {
	m, reg := newMiddleware(t, Options{})
	full := &fullWriter{ResponseRecorder: *httptest.NewRecorder()}
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err := w.(http.Pusher).Push("/style.css", nil); err != nil {
			t.Error(err)
		}
		if _, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader("body")); err != nil {
			t.Error(err)
		}
		w.(http.Flusher).Flush()
		if _, _, err := w.(http.Hijacker).Hijack(); err != nil {
			t.Error(err)
		}
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	}))
	h.ServeHTTP(full, httptest.NewRequest("GET", "/", nil))

	want := []string{"Push /style.css", "ReadFrom", "Flush", "Hijack", "Flush"}
	if diff := cmp.Diff(want, full.calls); diff != "" {
		t.Errorf("calls reaching the underlying writer (-want +got):\n%s", diff)
	}
	if got := full.Body.String(); got != "body" {
		t.Errorf("body %q, want %q", got, "body")
	}
	if diff := cmp.Diff(map[string]float64{"GET unmatched 200": 1}, requestCounts(t, reg)); diff != "" {
		t.Errorf("http_requests_total (-want +got):\n%s", diff)
	}
}

// TestFlushOverRealServer streams a first line to the client while the
// handler is still running; without a working Flush the client would only
// see it after release, which the test never reaches.
func TestFlushOverRealServer(t *testing.T) {
	m, reg := newMiddleware(t, Options{})
	release, done := make(chan struct{}), make(chan struct{})
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "first")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprintln(w, "second")
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := bufio.NewReader(resp.Body)
	first, err := body.ReadString('\n')
	if err != nil || first != "first\n" {
		t.Fatalf("first line %q, %v", first, err)
	}
	close(release)
	rest, err := io.ReadAll(body)
	if err != nil || string(rest) != "second\n" {
		t.Errorf("rest %q, %v", rest, err)
	}
	<-done
	if diff := cmp.Diff(map[string]float64{"GET unmatched 200": 1}, requestCounts(t, reg)); diff != "" {
		t.Errorf("http_requests_total (-want +got):\n%s", diff)
	}
}

func TestHijackOverRealServer(t *testing.T) {
	m, reg := newMiddleware(t, Options{})
	done := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello")
		if err := buf.Flush(); err != nil {
			t.Errorf("writing to the hijacked connection: %v", err)
		}
	})
	h := m.Wrap(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("status %d, want 101", resp.StatusCode)
	}
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "hello" {
		t.Errorf("after the upgrade: %q, %v", rest, err)
	}
	<-done
	// The handler wrote its status line to the raw connection, so the
	// middleware saw no WriteHeader and records the default 200.
	if diff := cmp.Diff(map[string]float64{"GET /ws 200": 1}, requestCounts(t, reg)); diff != "" {
		t.Errorf("http_requests_total (-want +got):\n%s", diff)
	}
}

package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Proxy stands in front of a server on a loopback port of its own. It
// passes every request on and records the exchange, and it can stage an
// outage of the server behind it: answer every request with an error
// status itself, or refuse connections by closing its listener, and open
// it again on the same port once the outage is over.
type Proxy struct {
	// Addr is the proxy's host:port; it stays the same across Refuse and
	// Accept.
	Addr string
	// URL is http://Addr.
	URL string

	rp *httputil.ReverseProxy

	mu        sync.Mutex
	from      string
	srv       *http.Server
	failWith  int
	exchanges []Exchange
}

// Exchange is one request the proxy took and what it answered.
type Exchange struct {
	// Start is when the request reached the proxy, End when its answer
	// had been written.
	Start, End time.Time
	Method     string
	// Path is the request URI: path and query.
	Path string
	// Body is the request's body.
	Body []byte
	// Status is the status answered; 502 when the server behind could
	// not be reached.
	Status int
	// RetryAfter is the answer's Retry-After header.
	RetryAfter string
	// Answer is the answer's body.
	Answer []byte
	// Staged marks an answer the proxy gave itself during an outage.
	Staged bool
	// From is the FromHeader of the request: which proxy in front of
	// this one passed it on (see Proxy.From).
	From string
}

// FromHeader names, in a request a proxy passes on, the sender the proxy
// stands for (Proxy.From).
const FromHeader = "X-Chaos-From"

// exchangeKey carries a request's Exchange through the reverse proxy.
type exchangeKey struct{}

// NewProxy starts a proxy to target (scheme and host) on a free loopback
// port. Close it when done.
func NewProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("proxy target: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String()}
	p.URL = "http://" + p.Addr
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: u.Scheme, Host: u.Host})
			r.Out.Host = u.Host
			if from := p.sender(); from != "" {
				r.Out.Header.Set(FromHeader, from)
			}
		},
		// Alertmanager and the receiver's workers post at once; the
		// default of two idle connections would dial for most posts.
		Transport:      &http.Transport{MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: 2 * time.Minute},
		ModifyResponse: captureAnswer,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if ex, ok := r.Context().Value(exchangeKey{}).(*Exchange); ok {
				ex.Status = http.StatusBadGateway
			}
			w.WriteHeader(http.StatusBadGateway)
		},
		// A request cut short by a staged outage is expected; the
		// exchange records it.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.serve(ln)
	return p, nil
}

// captureAnswer records the status, Retry-After and body of an answer
// from the server behind.
func captureAnswer(resp *http.Response) error {
	ex, ok := resp.Request.Context().Value(exchangeKey{}).(*Exchange)
	if !ok {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ex.Status, ex.RetryAfter, ex.Answer = resp.StatusCode, resp.Header.Get("Retry-After"), body
	return nil
}

func (p *Proxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle), ErrorLog: log.New(io.Discard, "", 0)}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (p *Proxy) handle(w http.ResponseWriter, r *http.Request) {
	ex := &Exchange{Start: time.Now(), Method: r.Method, Path: r.URL.RequestURI(), From: r.Header.Get(FromHeader)}
	defer func() {
		ex.End = time.Now()
		p.mu.Lock()
		p.exchanges = append(p.exchanges, *ex)
		p.mu.Unlock()
	}()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		ex.Status = http.StatusBadRequest
		w.WriteHeader(ex.Status)
		return
	}
	ex.Body = body
	p.mu.Lock()
	status := p.failWith
	p.mu.Unlock()
	if status != 0 {
		ex.Status, ex.Staged = status, true
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":%q}`, http.StatusText(status))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex)))
}

// From makes the proxy name sender in the FromHeader of every request it
// passes on, so that a proxy behind it records who sent each one: one
// proxy per replica in front of a shared upstream tells the replicas
// apart.
func (p *Proxy) From(sender string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.from = sender
}

func (p *Proxy) sender() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.from
}

// FailWith makes the proxy answer every request with status itself, as
// an upstream in trouble does; 0 passes requests on again.
func (p *Proxy) FailWith(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failWith = status
}

// Refuse closes the listener and every open connection: connecting to
// Addr is refused until Accept.
func (p *Proxy) Refuse() error {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv == nil {
		return errors.New("the proxy is refusing connections already")
	}
	return srv.Close()
}

// Accept listens on Addr again after Refuse.
func (p *Proxy) Accept() error {
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s again: %w", p.Addr, err)
	}
	p.serve(ln)
	return nil
}

// Exchanges returns the exchanges so far, in the order they ended.
func (p *Proxy) Exchanges() []Exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.exchanges)
}

// Close stops the proxy.
func (p *Proxy) Close() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

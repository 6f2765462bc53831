package chaos

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Balancer stands in front of replicas as a load balancer or a
// Kubernetes Service does: it polls each replica's /-/ready and sends
// each request to the next replica, in turn, of those that last answered
// 200. It answers 503 while none is ready, and 502 when the replica it
// chose cannot be reached; it does not try another (a POST may have been
// taken), so Alertmanager retries.
type Balancer struct {
	// URL is the balancer's address, http://host:port.
	URL string

	backends []*backend
	next     atomic.Uint64
	srv      *http.Server
	stop     context.CancelFunc
	polling  sync.WaitGroup
}

type backend struct {
	url   string
	ready atomic.Bool
	rp    *httputil.ReverseProxy
	// sent counts the requests passed to it.
	sent atomic.Int64
}

// NewBalancer starts a balancer on a free loopback port in front of the
// replicas at urls (http://host:port), polling each every poll, with
// poll as the timeout of a check too. Close it when done.
func NewBalancer(urls []string, poll time.Duration) (*Balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Balancer{URL: "http://" + ln.Addr().String(), stop: cancel}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			cancel()
			ln.Close()
			return nil, err
		}
		be := &backend{url: raw, rp: &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(u)
				r.Out.Host = u.Host
			},
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: 2 * time.Minute},
			ErrorLog:  log.New(io.Discard, "", 0),
		}}
		b.backends = append(b.backends, be)
		b.polling.Add(1)
		go b.poll(ctx, be, poll)
	}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.handle), ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// poll checks the backend's /-/ready every interval until ctx ends.
func (b *Balancer) poll(ctx context.Context, be *backend, interval time.Duration) {
	defer b.polling.Done()
	client := &http.Client{Timeout: interval}
	for {
		be.ready.Store(checkReady(ctx, client, be.url+"/-/ready"))
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func checkReady(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (b *Balancer) handle(w http.ResponseWriter, r *http.Request) {
	be := b.pick()
	if be == nil {
		http.Error(w, "no replica is ready", http.StatusServiceUnavailable)
		return
	}
	be.sent.Add(1)
	be.rp.ServeHTTP(w, r)
}

// pick is the next ready backend in turn, or nil.
func (b *Balancer) pick() *backend {
	n := len(b.backends)
	start := int(b.next.Add(1) % uint64(n))
	for i := range n {
		if be := b.backends[(start+i)%n]; be.ready.Load() {
			return be
		}
	}
	return nil
}

// Sent counts, by replica in the order given, the requests passed on.
func (b *Balancer) Sent() []int64 {
	out := make([]int64, len(b.backends))
	for i, be := range b.backends {
		out[i] = be.sent.Load()
	}
	return out
}

// Close stops the balancer and its polling.
func (b *Balancer) Close() {
	b.stop()
	_ = b.srv.Close()
	b.polling.Wait()
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/collector"
	"github.com/klaxonhq/klaxon/pkg/server"
)

// untilDeadline is a collector that runs until its scrape's deadline.
type untilDeadline struct{}

func (untilDeadline) Update(ctx context.Context, _ chan<- prometheus.Metric) error {
	<-ctx.Done()
	return context.Cause(ctx)
}

// TestScrapeOutlastsServerTimeouts shows /metrics behind the server both
// binaries run: a scrape that takes longer than the server's Read and Write
// timeouts is answered in full, since Prometheus announced a longer
// scrape timeout.
func TestScrapeOutlastsServerTimeouts(t *testing.T) {
	const short = 100 * time.Millisecond
	// Prometheus announces 1 s; the exporter keeps 500 ms of it back, so
	// the collector runs until 500 ms after the request.
	const announced, offset = time.Second, 500 * time.Millisecond
	logger := promslog.NewNopLogger()
	slow := func() map[string]collector.Collector { return map[string]collector.Collector{"slow": untilDeadline{}} }
	metrics := collector.NewHandler(logger, collector.HandlerOpts{TimeoutOffset: offset}, slow)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.NewServer(routes("/metrics", metrics, http.NotFoundHandler(), http.NotFoundHandler()),
		server.Timeouts{ReadHeader: time.Minute, Read: short, Write: short, Idle: time.Minute})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+ln.Addr().String()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", fmt.Sprint(announced.Seconds()))
	begin := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a scrape longer than the server's timeouts: %v, want its answer", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(begin)
	want := fmt.Sprintf("%s_exporter_collector_success{collector=%q} 0", collector.Namespace, "slow")
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		t.Errorf("a scrape longer than the server's timeouts: %d, %v, body:\n%s\nwant 200 with %s", resp.StatusCode, err, body, want)
	}
	// Cut off by the server's 100 ms, the scrape would still answer 200,
	// but early.
	if took < announced-offset {
		t.Errorf("the scrape took %s, less than the %s its deadline gives: the server's timeouts (%s) cut it short", took, announced-offset, short)
	}
}

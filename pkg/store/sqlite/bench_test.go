package sqlite_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// BenchmarkIngest records webhooks of 10 alerts from many goroutines, with
// batch commits and with one transaction (one fsync) per webhook.
func BenchmarkIngest(b *testing.B) {
	payload := benchPayload(b)
	for _, bc := range []struct {
		name     string
		maxBatch int
	}{{"batched", sqlite.DefaultMaxBatch}, {"unbatched", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b, "", sqlite.Options{MaxBatch: bc.maxBatch})
			var seq atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					in := &store.Ingest{
						Route: "ops", IncidentKey: fmt.Sprintf("inc%d", n), GroupKey: "{}:{}", StateHash: "h",
						Status: alert.StatusFiring, Kind: "trigger", Payload: payload,
						Channels: []string{"pager", "chat"}, ReceivedAt: t0,
					}
					if _, err := s.Ingest(context.Background(), in); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ingests/s")
		})
	}
}

func benchPayload(b *testing.B) []byte {
	m := &alert.Message{
		Version: "4", GroupKey: `{}:{alertname="HighErrorRate"}`, Status: alert.StatusFiring, Receiver: "ops",
		GroupLabels:  map[string]string{"alertname": "HighErrorRate"},
		CommonLabels: map[string]string{"alertname": "HighErrorRate", "severity": "critical"},
		ExternalURL:  "http://alertmanager:9093",
	}
	for i := range 10 {
		m.Alerts = append(m.Alerts, alert.Alert{
			Status:       alert.StatusFiring,
			Labels:       map[string]string{"alertname": "HighErrorRate", "severity": "critical", "instance": fmt.Sprintf("web-%d:8080", i), "job": "web"},
			Annotations:  map[string]string{"summary": "5xx above 5% on web", "description": "The error ratio has been above 5% for 10 minutes.", "runbook_url": "highErrorRate.md"},
			StartsAt:     t0.Add(-time.Duration(i) * time.Minute),
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=job%3Ahttp_requests%3Aerror_ratio_rate5m+%3E+0.05",
			Fingerprint:  fmt.Sprintf("%016x", i),
		})
	}
	data, err := m.Encode()
	if err != nil {
		b.Fatal(err)
	}
	return data
}

package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
)

// BenchmarkIngest records webhooks of 10 alerts, each of an incident of
// its own and with an escalation hook that changes nothing (as the
// receiver's, on a route with no escalation policy), from 64 goroutines:
// the store's part of BenchmarkReceiverIngestPostgres.
func BenchmarkIngest(b *testing.B) {
	payload := benchPayload(b)
	s := open(b, "", postgres.Options{})

	hook := store.EscalationHookFunc(func(*store.Escalation) (*store.EscalationChange, error) { return nil, nil })
	var seq atomic.Int64
	b.SetParallelism(32) // 64 on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			in := &store.Ingest{
				Route: "ingest", IncidentKey: fmt.Sprintf("inc%d", n), GroupKey: "{}:{}", StateHash: "h",
				Status: alert.StatusFiring, Kind: "trigger", Payload: payload, ReceivedAt: t0, Escalate: hook,
			}
			if _, err := s.Ingest(context.Background(), in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ingests/s")
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

package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

// BenchmarkIngest records webhooks of 10 alerts, each of an incident of
// its own and with an escalation hook that changes nothing (as the
// receiver's, on a route with no escalation policy), from 64 goroutines:
// the store's part of BenchmarkReceiverIngestPostgres.
func BenchmarkIngest(b *testing.B) {
	payload := storetest.WebhookPayload(b)
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

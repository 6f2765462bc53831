package sqlite_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
	"github.com/klaxonhq/klaxon/pkg/store/storetest"
)

// BenchmarkIngest records webhooks of 10 alerts from many goroutines, with
// batch commits and with one transaction (one fsync) per webhook.
func BenchmarkIngest(b *testing.B) {
	payload := storetest.WebhookPayload(b)
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

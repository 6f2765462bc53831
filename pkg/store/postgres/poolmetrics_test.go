package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/store/postgres"
)

// TestPoolMetrics: while every connection is taken, an ingest waits for
// one, and the pool's metrics show the connections in use and the wait;
// once one is given back, the ingest goes through.
func TestPoolMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := open(t, "", postgres.Options{MaxConns: 2, Registerer: reg})
	ctx := context.Background()
	var held []*pgxpool.Conn
	for range 2 {
		c, err := s.Pool().Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Ingest(ctx, newIngest("inc1", "h1", t0, "pager"))
		done <- err
	}()
	testenv.Eventually(t, 10*time.Second, func() error {
		return poolMetrics(reg, `
# HELP klaxon_receiver_store_pool_connections Connections to PostgreSQL in the pool, by state: acquired (in use), idle, or constructing.
# TYPE klaxon_receiver_store_pool_connections gauge
klaxon_receiver_store_pool_connections{state="acquired"} 2
klaxon_receiver_store_pool_connections{state="constructing"} 0
klaxon_receiver_store_pool_connections{state="idle"} 0
# HELP klaxon_receiver_store_pool_max_connections The most connections the pool opens (storage.postgres.max_conns).
# TYPE klaxon_receiver_store_pool_max_connections gauge
klaxon_receiver_store_pool_max_connections 2
`, "klaxon_receiver_store_pool_connections", "klaxon_receiver_store_pool_max_connections")
	})
	testenv.Eventually(t, 10*time.Second, func() error {
		if w, err := metricValue(reg, "klaxon_receiver_store_pool_waits_total"); err != nil || w < 1 {
			return fmt.Errorf("%v waits counted, want the ingest's (%v)", w, err)
		}
		return nil
	})
	select {
	case err := <-done:
		t.Fatalf("ingest returned while every connection was held: %v", err)
	default:
	}
	held[0].Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	held[1].Release()
	if n, err := testutil.GatherAndCount(reg, "klaxon_receiver_store_pool_acquires_total", "klaxon_receiver_store_pool_wait_seconds_total"); err != nil || n != 2 {
		t.Fatalf("gathered %d of acquires_total and wait_seconds_total, %v", n, err)
	}
}

func poolMetrics(reg *prometheus.Registry, want string, names ...string) error {
	return testutil.GatherAndCompare(reg, strings.NewReader(want), names...)
}

// metricValue is the value of the one series of a counter or gauge.
func metricValue(reg *prometheus.Registry, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue(), nil
		}
		return m.GetGauge().GetValue(), nil
	}
	return 0, fmt.Errorf("no single series named %s", name)
}

package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// registerAll registers each collector, and stops at the first refused.
func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// poolCollector exports the connection pool's statistics, read from the
// pool at each scrape.
type poolCollector struct {
	pool *pgxpool.Pool

	connections, maxConnections                         *prometheus.Desc
	acquires, acquireSeconds, waits, waitSeconds        *prometheus.Desc
	canceledAcquires, newConnections, closedConnections *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("klaxon_receiver_store_pool_"+name, help, labels, nil)
	}
	return &poolCollector{
		pool:              pool,
		connections:       desc("connections", "Connections to PostgreSQL in the pool, by state: acquired (in use), idle, or constructing.", "state"),
		maxConnections:    desc("max_connections", "The most connections the pool opens (storage.postgres.max_conns)."),
		acquires:          desc("acquires_total", "Connections taken from the pool."),
		acquireSeconds:    desc("acquire_seconds_total", "Time spent taking connections from the pool, waits included."),
		waits:             desc("waits_total", "Acquires that had to wait for a connection: the pool was busy or empty."),
		waitSeconds:       desc("wait_seconds_total", "Time acquires spent waiting for a connection."),
		canceledAcquires:  desc("canceled_acquires_total", "Acquires given up before a connection was free (the caller's context ended)."),
		newConnections:    desc("new_connections_total", "Connections opened to PostgreSQL."),
		closedConnections: desc("closed_connections_total", "Connections the pool closed for their age or idleness.", "reason"),
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.maxConnections, c.acquires, c.acquireSeconds,
		c.waits, c.waitSeconds, c.canceledAcquires, c.newConnections, c.closedConnections} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.connections, float64(st.AcquiredConns()), "acquired")
	gauge(c.connections, float64(st.IdleConns()), "idle")
	gauge(c.connections, float64(st.ConstructingConns()), "constructing")
	gauge(c.maxConnections, float64(st.MaxConns()))
	counter(c.acquires, float64(st.AcquireCount()))
	counter(c.acquireSeconds, st.AcquireDuration().Seconds())
	counter(c.waits, float64(st.EmptyAcquireCount()))
	counter(c.waitSeconds, st.EmptyAcquireWaitTime().Seconds())
	counter(c.canceledAcquires, float64(st.CanceledAcquireCount()))
	counter(c.newConnections, float64(st.NewConnsCount()))
	counter(c.closedConnections, float64(st.MaxLifetimeDestroyCount()), "lifetime")
	counter(c.closedConnections, float64(st.MaxIdleDestroyCount()), "idle")
}

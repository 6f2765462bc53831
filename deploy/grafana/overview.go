package grafana

//lint:file-ignore SA1019 Grafana imports and provisions dashboards of the classic JSON model (package dashboard); the SDK deprecates it for dashboardv2, which only Grafana 12 with its new dashboard API reads.

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Selectors of the overview's template variables.
const (
	appJob      = `job=~"$job"`
	anyInstance = `instance=~"$instance"`
)

// overview is the service overview: the Key Metrics of docs/alerts.md
// against their targets, from the series the rules record, so that it
// works with either source layer.
func overview() *dashboard.DashboardBuilder {
	return newDashboard("klaxon-overview", "Klaxon / Service overview",
		"The Key Metrics against their targets (orange) and alert thresholds (red), from the series recorded by rules/.").
		WithVariable(variable("job", "job", "job:http_requests:rate5m")).
		WithVariable(variable("instance", "instance",
			`{__name__=~"instance:host_cpu:utilisation_ratio|instance_probe:probe:success"}`)).
		WithRow(dashboard.NewRowBuilder("Application")).
		WithPanel(graph("Error rate",
			"Share of HTTP requests answered with a 5xx over 5 minutes, per job. Target under 1%; HighErrorRate is critical from 5%.",
			"percentunit", []limit{{0.01, colourTarget}, {0.05, colourCritical}},
			rangeQuery("job:http_requests:error_ratio_rate5m{"+appJob+"}", "{{job}}"))).
		WithPanel(graph("Requests",
			"HTTP requests per second over 5 minutes, per job.",
			"reqps", nil,
			rangeQuery("job:http_requests:rate5m{"+appJob+"}", "{{job}}"))).
		WithPanel(graph("Response time p95",
			"95th percentile response time over 5 minutes, per job and route. Target under 500 ms; HighResponseTime warns from 1 s.",
			"s", over(0.5, 1),
			rangeQuery("job_route:http_request_duration_seconds:p95_5m{"+appJob+"}", "{{job}} {{route}}"))).
		WithPanel(graph("Response time p99",
			"99th percentile response time over 5 minutes, per job and route. Target under 1 s; HighResponseTime is critical from 2 s.",
			"s", over(1, 2),
			rangeQuery("job_route:http_request_duration_seconds:p99_5m{"+appJob+"}", "{{job}} {{route}}"))).
		WithRow(dashboard.NewRowBuilder("Database")).
		WithPanel(graph("Database pool use",
			"PostgreSQL client backends over the connections ordinary clients may open (max_connections minus the superuser reserve). Target under 70%; HighDatabaseConnections warns from 80%.",
			"percentunit", over(0.7, 0.8),
			rangeQuery("instance_probe:postgres_connections:utilisation_ratio{"+anyInstance+"}", "{{probe}}"))).
		WithPanel(graph("Query time",
			"How long the longest-running active query has run, per PostgreSQL probe. Target under 1 s; SlowDatabaseQueries counts those past the probe's slow_query_threshold.",
			"s", over(1, 0),
			rangeQuery(`klaxon_postgres_longest_active_query_seconds{`+anyInstance+`}`, "{{probe}}"))).
		WithRow(dashboard.NewRowBuilder("Hosts")).
		WithPanel(graph("CPU",
			"Share of CPU time spent neither idle nor waiting for I/O, over all CPUs. Target under 70%; HighCPUUsage warns from 90%.",
			"percentunit", over(0.7, 0.9),
			rangeQuery("instance:host_cpu:utilisation_ratio{"+anyInstance+"}", "{{instance}}")).Span(8)).
		WithPanel(graph("Memory",
			"Memory the kernel could not hand to a new process without swapping. Target under 80%; HighMemoryUsage is critical from 90%.",
			"percentunit", over(0.8, 0.9),
			rangeQuery("instance:host_memory:utilisation_ratio{"+anyInstance+"}", "{{instance}}")).Span(8)).
		WithPanel(graph("Disk",
			"Space used on each writable filesystem. Target under 75%; HighDiskUsage is critical from 85%.",
			"percentunit", over(0.75, 0.85),
			rangeQuery("instance_mountpoint:host_filesystem:utilisation_ratio{"+anyInstance+"}", "{{instance}} {{mountpoint}}")).Span(8)).
		WithRow(dashboard.NewRowBuilder("Queues")).
		WithPanel(graph("Queue size",
			"Jobs waiting in each queue that no worker has taken yet. Target under 1,000; HighQueueSize warns from 10,000.",
			"short", over(1000, 10000),
			rangeQuery("instance_queue:queue_waiting_jobs:count{"+anyInstance+"}", "{{queue}}"))).
		WithPanel(graph("Processing time",
			"How long the oldest waiting job has waited, per queue (streams, sorted sets with a score, BullMQ). Target under 1 minute; QueueProcessingDelayed warns from 1 minute.",
			"s", over(60, 0),
			rangeQuery("instance_queue:queue_oldest_job_age:seconds{"+anyInstance+"}", "{{queue}}"))).
		WithRow(dashboard.NewRowBuilder("Health checks")).
		WithPanel(graph("Probes",
			"1 when the probe reached its target and found it healthy, 0 when not; HealthCheckFailing and RedisDown fire after 2 minutes at 0.",
			"short", nil,
			rangeQuery("instance_probe:probe:success{"+anyInstance+"}", "{{type}} {{probe}}")).Span(24))
}

package grafana

//lint:file-ignore SA1019 Grafana imports and provisions dashboards of the classic JSON model (package dashboard); the SDK deprecates it for dashboardv2, which only Grafana 12 with its new dashboard API reads.

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// receiverSelector picks the receivers of the dashboard's variables.
const receiverSelector = `{job=~"$job",instance=~"$instance"}`

// rate is the per-second rate of a klaxon-receiver counter, summed by
// the labels given.
func rate(counter, by string) string {
	return "sum by (" + by + ") (rate(" + counter + receiverSelector + "[$__rate_interval]))"
}

// quantile is a quantile of a klaxon-receiver histogram by the label
// given, over window.
func quantile(q, histogram, by, window string) string {
	return "histogram_quantile(" + q + ", sum by (" + by + ", le) (rate(" + histogram + "_bucket" + receiverSelector + "[" + window + "])))"
}

// receiver shows klaxon-receiver's own metrics: what comes in, what goes
// out to the channels, the incidents and who is on call.
func receiver() *dashboard.DashboardBuilder {
	return newDashboard("klaxon-receiver", "Klaxon / Receiver",
		"klaxon-receiver's own metrics: webhooks in, deliveries out, the outbox, incidents and who is on call.").
		WithVariable(variable("job", "job", "klaxon_receiver_build_info")).
		WithVariable(variable("instance", "instance", `klaxon_receiver_build_info{job=~"$job"}`)).
		WithRow(dashboard.NewRowBuilder("Webhooks")).
		WithPanel(graph("Webhooks by route and code",
			"Webhook requests from Alertmanager per second, by route and HTTP status code; route is \"unknown\" for routes not in the config.",
			"reqps", nil,
			rangeQuery(rate("klaxon_receiver_webhook_requests_total", "route, code"), "{{route}} {{code}}")).Span(24)).
		WithRow(dashboard.NewRowBuilder("Deliveries")).
		WithPanel(graph("Deliveries by channel and outcome",
			"Delivery attempts per second by channel and outcome: success, retry, or failed (given up: a dead letter).",
			"ops", nil,
			rangeQuery(rate("klaxon_receiver_notifications_total", "channel, outcome"), "{{channel}} {{outcome}}"))).
		WithPanel(graph("Delivery latency",
			"Time from accepting a notification to delivering it, by channel: median and 99th percentile.",
			"s", nil,
			rangeQuery(quantile("0.5", "klaxon_receiver_delivery_latency_seconds", "channel", "$__rate_interval"), "{{channel}} p50"),
			rangeQuery(quantile("0.99", "klaxon_receiver_delivery_latency_seconds", "channel", "$__rate_interval"), "{{channel}} p99"))).
		WithPanel(graph("Outbox depth",
			"Deliveries waiting in the outbox, due or waiting for a retry, by channel.",
			"short", nil,
			rangeQuery("sum by (channel) (klaxon_receiver_outbox_pending"+receiverSelector+")", "{{channel}}"))).
		WithPanel(graph("Outbox age",
			"How long the oldest pending delivery has waited, by channel. ReceiverOutboxBacklog warns from 5 minutes and is critical from 15.",
			"s", over(300, 900),
			rangeQuery("max by (channel) (klaxon_receiver_outbox_oldest_pending_age_seconds"+receiverSelector+")", "{{channel}}"))).
		WithPanel(single("Dead letters",
			"Deliveries given up on, by channel, kept until `klaxon-receiver dead-letters retry` queues them again. ReceiverDeadLetters warns from 1.",
			"short", []limit{{1, colourCritical}},
			instantQuery("sum by (channel) (klaxon_receiver_dead_letters"+receiverSelector+")", "{{channel}}")).
			Span(graphWidth).Height(graphHeight)).
		WithPanel(graph("Digests",
			"Digests delivered per second by channel (messages that each covered several notifications waiting for a rate-limited chat channel), and the notifications they covered.",
			"ops", nil,
			rangeQuery(rate("klaxon_receiver_digests_total", "channel"), "{{channel}} digests"),
			rangeQuery(rate("klaxon_receiver_notifications_coalesced_total", "channel"), "{{channel}} notifications covered"))).
		WithRow(dashboard.NewRowBuilder("Incidents")).
		WithPanel(graph("Incidents by level",
			"Open incidents by route and the escalation level last paged (0: none yet).",
			"short", nil,
			rangeQuery("sum by (route, level) (klaxon_receiver_incidents_by_level"+receiverSelector+")", "{{route}} level {{level}}"))).
		WithPanel(graph("Oldest unacknowledged incident",
			"Age of the oldest open incident nobody acknowledged, by route.",
			"s", nil,
			rangeQuery("max by (route) (klaxon_receiver_incident_oldest_unacknowledged_age_seconds"+receiverSelector+")", "{{route}}"))).
		WithPanel(single("Open incidents", "Open incidents with an escalation, of all routes.",
			"short", nil, instantQuery("sum(klaxon_receiver_incidents_open"+receiverSelector+")", "open"))).
		WithPanel(single("Unacknowledged", "Open incidents nobody acknowledged, of all routes.",
			"short", []limit{{1, colourTarget}}, instantQuery("sum(klaxon_receiver_incidents_unacknowledged"+receiverSelector+")", "unacknowledged"))).
		WithPanel(single("Past the last level", "Unacknowledged incidents whose policy's last level was paged. IncidentUnacknowledged is critical after 5 minutes.",
			"short", []limit{{1, colourCritical}}, instantQuery("sum(klaxon_receiver_incidents_past_last_level"+receiverSelector+")", "past the last level"))).
		WithPanel(single("Time to acknowledge", "Median time from an incident's start to its first acknowledgement over the dashboard's time range, by route; empty until an incident is acknowledged.",
			"s", nil, instantQuery(quantile("0.5", "klaxon_receiver_time_to_acknowledge_seconds", "route", "$__range"), "{{route}}"))).
		WithRow(dashboard.NewRowBuilder("On call")).
		WithPanel(listing("Who is on call",
			"Who is on call now for each schedule; nobody when the schedule has a gap now.",
			instantQuery("klaxon_oncall_current_info"+receiverSelector, ""), "Value", "job").
			Mappings([]dashboard.ValueMapping{{SpecialValueMap: &dashboard.SpecialValueMap{
				Type:    dashboard.MappingTypeSpecialValue,
				Options: dashboard.DashboardSpecialValueMapOptions{Match: dashboard.SpecialValueMatchEmpty, Result: dashboard.ValueMappingResult{Text: cog.ToPtr("nobody"), Color: cog.ToPtr(colourCritical)}},
			}}})).
		WithPanel(graph("On-call gaps",
			"Time with nobody on call in the next 7 days, per schedule. OnCallCoverageGap warns after 30 minutes above 0.",
			"s", []limit{{1, colourCritical}},
			rangeQuery("max by (schedule) (klaxon_oncall_gap_seconds"+receiverSelector+")", "{{schedule}}")))
}

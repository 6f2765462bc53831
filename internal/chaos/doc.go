// Package chaos puts klaxon-receiver, run as a real process from the
// built binary, through storms and faults, and says what came of them.
//
// A Rig is the receiver with the fakes of PagerDuty, Opsgenie, Slack and
// Discord (pkg/notify/*/*test, which hold the upstreams' rate limits and
// rules), each behind a Proxy that records every exchange and can stage
// an outage, and a Proxy in front of the receiver's webhook that records
// what it answered Alertmanager. Reconcile matches the notifications the
// receiver accepted with the messages the upstreams accepted: what was
// delivered, coalesced, lost, duplicated or out of order, and how late.
//
// The scenarios (Storm, Outage, FullDisk, ReadOnly, Replicas, and the
// bad-input corpus with PostCorpus) each return Figures; Replicas runs
// three receivers on one PostgreSQL behind a Balancer, with two
// clustered Alertmanagers, and adds the failover figures (Takeover). Markdown renders them as
// the table in docs/benchmarks.md. The storm goes through the Debian
// Alertmanager running the deployed config (testenv.StartAlertmanager).
// Short versions run in make test, the full ones in make chaos.
package chaos

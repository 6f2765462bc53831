// Package e2e holds no code, only the end-to-end test of the whole
// pipeline as a user runs it: a demo application (internal/demoapp) and
// klaxon-exporter probing it, PostgreSQL and Redis, the Debian Prometheus
// loading rules/, the Debian Alertmanager running
// deploy/alertmanager/alertmanager.yml, klaxon-receiver, and fakes of
// PagerDuty, Opsgenie, Slack and Discord. The test breaks the application
// and its dependencies in the ways the alerts watch for and checks what
// reaches the fakes. Timings are shortened by one documented rule (a
// minute becomes a second) so that it runs within `make test`; see
// docs/testing.md.
package e2e

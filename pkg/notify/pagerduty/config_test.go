package pagerduty

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := yamlconf.Decode("receiver.yml", []byte("routing_key: abc\n"), &c); err != nil {
		t.Fatal(err)
	}
	want := Config{RoutingKey: "abc", URL: DefaultURL, Summary: DefaultSummary, Source: DefaultSource,
		Severity: DefaultSeverities(), DefaultSeverity: "error", Client: "Klaxon", Timeout: 10 * time.Second}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestConfigGood(t *testing.T) {
	const in = `
routing_key_file: secrets/pd.key
url: http://127.0.0.1:8080/v2/enqueue
summary: '{{ .CommonLabels.alertname }}'
source: '{{ .CommonLabels.cluster }}'
severity:
  Page: critical
  warning: error
default_severity: info
client: Acme
client_url: https://am.example.com
timeout: 3s
`
	var c Config
	if err := yamlconf.Decode("receiver.yml", []byte(in), &c); err != nil {
		t.Fatal(err)
	}
	c.ResolvePaths("/etc/klaxon/receiver.yml")
	want := Config{RoutingKeyFile: filepath.Join("/etc/klaxon", "secrets/pd.key"), URL: "http://127.0.0.1:8080/v2/enqueue",
		Summary: "{{ .CommonLabels.alertname }}", Source: "{{ .CommonLabels.cluster }}",
		Severity:        map[string]string{"critical": "critical", "error": "error", "warning": "error", "info": "info", "page": "critical"},
		DefaultSeverity: "info", Client: "Acme", ClientURL: "https://am.example.com", Timeout: 3 * time.Second}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	abs := Config{RoutingKeyFile: "/run/secrets/pd"}
	abs.ResolvePaths("/etc/klaxon/receiver.yml")
	if abs.RoutingKeyFile != "/run/secrets/pd" {
		t.Errorf("absolute path changed to %s", abs.RoutingKeyFile)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no key", "url: https://events.pagerduty.com/v2/enqueue\n",
			"receiver.yml:1: one of routing_key, routing_key_file and routing_key_env is required"},
		{"env unset", "client: x\nrouting_key_env: KLAXON_TEST_UNSET\n",
			"receiver.yml:2: routing_key_env: environment variable KLAXON_TEST_UNSET is not set"},
		{"unexpanded", "routing_key: ${PAGERDUTY_INTEGRATION_KEY}\n",
			`receiver.yml:1: routing_key is "${PAGERDUTY_INTEGRATION_KEY}", which is not expanded: to read the environment variable, write routing_key_env: PAGERDUTY_INTEGRATION_KEY instead`},
		{"both keys", "client: x\nrouting_key: abc\nrouting_key_file: k\n",
			"receiver.yml:3: at most one of routing_key, routing_key_file and routing_key_env may be set"},
		{"bad url", "routing_key: abc\nurl: events.pagerduty.com/v2/enqueue\n",
			`receiver.yml:2: url must be an absolute http or https URL, not "events.pagerduty.com/v2/enqueue"`},
		{"bad client_url", "routing_key: abc\nclient_url: ftp://am\n",
			`receiver.yml:2: client_url must be an absolute http or https URL, not "ftp://am"`},
		{"bad default_severity", "routing_key: abc\ndefault_severity: high\n",
			`receiver.yml:2: default_severity must be one of PagerDuty's severities (critical, error, warning, info), not "high"`},
		{"bad severity value", "routing_key: abc\nseverity:\n  critical: critical\n  page: P1\n",
			`receiver.yml:4: severity "page" maps to "P1", which is not one of PagerDuty's severities (critical, error, warning, info)`},
		{"zero timeout", "routing_key: abc\ntimeout: 0s\n",
			"receiver.yml:2: timeout must be more than 0s, not 0s"},
		{"unknown key", "routing_key: abc\nservice_key: x\n",
			`receiver.yml:2: unknown key "service_key" (known keys: client, client_url, default_severity, routing_key, routing_key_env, routing_key_file, severity, source, summary, timeout, url)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := yamlconf.Decode("receiver.yml", []byte(tc.yaml), &c)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
}

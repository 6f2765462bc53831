package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/collector"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

func TestProbeConfigDefaultsAndType(t *testing.T) {
	cfg := &Config{}
	data := `
probes:
  - name: api
    labels: {team: payments}
    tcp: {address: "127.0.0.1:1"}
  - name: db.main
    timeout: 2s
    postgres: {dsn: "postgres://postgres@127.0.0.1:5432/postgres"}
`
	if err := yamlconf.Decode("exporter.yml", []byte(data), cfg); err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.Probes[0].Type(), cfg.Probes[1].Type(), cfg.Probes[0].String()}
	if diff := cmp.Diff([]string{"tcp", "postgres", `tcp probe "api"`}, got); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}
	if cfg.Probes[0].Timeout != DefaultTimeout || cfg.Probes[1].Timeout != 2*time.Second {
		t.Errorf("timeouts %s and %s, want the default and 2s", cfg.Probes[0].Timeout, cfg.Probes[1].Timeout)
	}
}

func TestProbeConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no type", `
probes:
  - name: api
`, `exporter.yml:3: probe "api" must have exactly one of http, tcp, postgres or redis (it has 0)`},
		{"two types", `
probes:
  - name: api
    tcp: {address: "127.0.0.1:1"}
    http: {url: "http://127.0.0.1:1/health"}
`, `exporter.yml:3: probe "api" must have exactly one of http, tcp, postgres or redis (it has 2)`},
		{"bad name", `
probes:
  - name: "my api"
    tcp: {address: "127.0.0.1:1"}
`, `exporter.yml:3: probe name "my api" must be letters, digits, '_', '.' or '-'`},
		{"duplicate", `
probes:
  - name: api
    tcp: {address: "127.0.0.1:1"}
  - name: api
    tcp: {address: "127.0.0.1:2"}
`, `exporter.yml:5: probe name "api" is used twice`},
		{"reserved label", `
probes:
  - name: api
    labels: {instance: x}
    tcp: {address: "127.0.0.1:1"}
`, `exporter.yml:3: probe "api": "instance" cannot be a label name (reserved: [probe type collector check state application queue instance job])`},
		{"invalid label", `
probes:
  - name: api
    labels: {"team-name": x}
    tcp: {address: "127.0.0.1:1"}
`, `exporter.yml:3: probe "api": "team-name" cannot be a label name (reserved: [probe type collector check state application queue instance job])`},
		{"negative timeout", `
probes:
  - name: api
    timeout: -1s
    tcp: {address: "127.0.0.1:1"}
`, `exporter.yml:3: probe "api": timeout must be positive`},
		{"unknown key", `
probes:
  - name: api
    timeuot: 1s
    tcp: {address: "127.0.0.1:1"}
`, `exporter.yml:4: unknown key "timeuot" (known keys: http, labels, name, postgres, redis, tcp, timeout)`},
		{"unknown top key", `
probe:
  - name: api
`, `exporter.yml:2: unknown key "probe" (known keys: probes)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := yamlconf.Decode("exporter.yml", []byte(tc.yaml), &Config{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestProbeLabels checks that a probe's metrics carry its name, type and
// user labels, and that probes with different label sets scrape together.
func TestProbeLabels(t *testing.T) {
	cfg := &Config{}
	data := `
probes:
  - name: a
    labels: {team: payments}
    tcp: {address: "127.0.0.1:1"}
  - name: b
    tcp: {address: "127.0.0.1:1"}
`
	if err := yamlconf.Decode("exporter.yml", []byte(data), cfg); err != nil {
		t.Fatal(err)
	}
	collectors, err := cfg.Collectors(promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"probe:a", "probe:b"} {
		if collectors[name] == nil {
			t.Fatalf("no collector %q among %v", name, collectors)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.NewScrape(context.Background(), collectors, promslog.NewNopLogger()))
	want := `
# HELP klaxon_probe_success 1 if the probe reached its target and found it healthy, 0 otherwise.
# TYPE klaxon_probe_success gauge
klaxon_probe_success{probe="a",team="payments",type="tcp"} 0
klaxon_probe_success{probe="b",type="tcp"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "klaxon_probe_success"); err != nil {
		t.Error(err)
	}
}

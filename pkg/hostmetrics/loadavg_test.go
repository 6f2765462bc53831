package hostmetrics

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

// TestLoadavgOtherProcfs checks that with --path.procfs pointing at a tree
// whose loadavg is missing or unreadable, the collector fails and says why,
// instead of reporting this machine's load from sysinfo(2).
func TestLoadavgOtherProcfs(t *testing.T) {
	tests := []struct {
		tree string
		want string // in the logged reason, as logfmt quotes it
	}{
		{"proc-no-loadavg", "no such file or directory"},
		{"proc-bad-loadavg", `parsing \"high\": invalid syntax`},
		{"proc-short-loadavg", `Malformed line \"0.52 0.71\\n\"`},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			o := defaultOptions()
			o.procPath = filepath.Join("testdata", tt.tree)
			var logs bytes.Buffer
			logger := promslog.New(&promslog.Config{Writer: &logs})
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(collector.NewScrape(t.Context(),
				map[string]collector.Collector{"loadavg": newLoadavgCollector(o)}, logger))

			if n, err := testutil.GatherAndCount(reg, "klaxon_host_load1", "klaxon_host_load5", "klaxon_host_load15"); err != nil || n != 0 {
				t.Errorf("got %d load series (err %v), want none", n, err)
			}
			want := `# HELP klaxon_exporter_collector_success 1 if the collector or probe finished without error during this scrape, 0 otherwise.
# TYPE klaxon_exporter_collector_success gauge
klaxon_exporter_collector_success{collector="loadavg"} 0
`
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "klaxon_exporter_collector_success"); err != nil {
				t.Error(err)
			}
			log := logs.String()
			file := filepath.Join("testdata", tt.tree, "loadavg")
			for _, s := range []string{"level=ERROR", "collector=loadavg", "couldn't get load from " + file, tt.want} {
				if !strings.Contains(log, s) {
					t.Errorf("log lacks %q:\n%s", s, log)
				}
			}
		})
	}
}

// TestLoadavgDefaultProcfs checks that the default /proc still gives this
// machine's load.
func TestLoadavgDefaultProcfs(t *testing.T) {
	metrics, err := scrape(t.Context(), newLoadavgCollector(defaultOptions()))
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if len(metrics) != 3 {
		t.Errorf("got %d metrics, want load1, load5 and load15", len(metrics))
	}
}

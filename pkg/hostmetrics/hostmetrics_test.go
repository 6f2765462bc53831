package hostmetrics

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/collector"
)

// fixtureOptions points the collectors at the fixture trees under testdata/.
func fixtureOptions() options {
	o := defaultOptions()
	o.procPath = filepath.Join("testdata", "proc")
	o.sysPath = filepath.Join("testdata", "sys")
	o.rootPath = filepath.Join("testdata", "root")
	return o
}

// scrape runs one Update and returns what it sent.
func scrape(ctx context.Context, c collector.Collector) ([]prometheus.Metric, error) {
	ch := make(chan prometheus.Metric)
	done := make(chan error, 1)
	go func() {
		done <- c.Update(ctx, ch)
		close(ch)
	}()
	var out []prometheus.Metric
	for m := range ch {
		out = append(out, m)
	}
	return out, <-done
}

// replay is a prometheus.Collector that sends metrics already collected.
type replay []prometheus.Metric

func (r replay) Describe(chan<- *prometheus.Desc) {}

func (r replay) Collect(ch chan<- prometheus.Metric) {
	for _, m := range r {
		ch <- m
	}
}

// registry returns a pedantic registry holding metrics.
func registry(t *testing.T, metrics []prometheus.Metric) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(replay(metrics)); err != nil {
		t.Fatal(err)
	}
	return reg
}

// exposition renders the registry in the text format.
func exposition(t *testing.T, reg prometheus.Gatherer) []byte {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// assertGolden compares metrics with testdata/<name>.prom, which -update
// rewrites.
func assertGolden(t *testing.T, metrics []prometheus.Metric, name string) {
	t.Helper()
	testkit.GoldenMetrics(t, filepath.Join("testdata", name+".prom"), registry(t, metrics))
}

func TestGolden(t *testing.T) {
	fixtures := fixtureOptions()
	noExclude := fixtureOptions()
	noExclude.diskExclude = ""
	netExclude := fixtureOptions()
	netExclude.netdevExclude = `^(docker|veth)`

	tests := []struct {
		golden string
		build  func() (collector.Collector, error)
	}{
		{"cpu", func() (collector.Collector, error) { return newCPUCollector(fixtures), nil }},
		{"meminfo", func() (collector.Collector, error) { return newMeminfoCollector(fixtures), nil }},
		{"loadavg", func() (collector.Collector, error) { return newLoadavgCollector(fixtures), nil }},
		{"netdev", func() (collector.Collector, error) { return newNetdevCollector(fixtures) }},
		{"netdev-exclude", func() (collector.Collector, error) { return newNetdevCollector(netExclude) }},
		{"diskstats", func() (collector.Collector, error) { return newDiskstatsCollector(fixtures) }},
		{"diskstats-no-exclude", func() (collector.Collector, error) { return newDiskstatsCollector(noExclude) }},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			c, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			metrics, err := scrape(t.Context(), c)
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			assertGolden(t, metrics, tt.golden)
		})
	}
}

// TestMissingSource checks that a collector whose /proc file does not exist
// reports collector.ErrNoData, which the scrape does not count as a failure.
func TestMissingSource(t *testing.T) {
	o := defaultOptions()
	o.procPath = filepath.Join(t.TempDir(), "proc")
	o.sysPath = filepath.Join(t.TempDir(), "sys")
	netdev, err := newNetdevCollector(o)
	if err != nil {
		t.Fatal(err)
	}
	disks, err := newDiskstatsCollector(o)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := newFilesystemCollector(o, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]collector.Collector{
		"cpu": newCPUCollector(o), "meminfo": newMeminfoCollector(o),
		"netdev": netdev, "diskstats": disks, "filesystem": fs,
	} {
		metrics, err := scrape(t.Context(), c)
		if !errors.Is(err, collector.ErrNoData) {
			t.Errorf("%s: got error %v, want ErrNoData", name, err)
		}
		if len(metrics) != 0 {
			t.Errorf("%s: got %d metrics, want none", name, len(metrics))
		}
	}
}

func TestInvalidExclude(t *testing.T) {
	tests := []struct {
		name  string
		set   func(*options)
		build func(options) error
	}{
		{"netdev", func(o *options) { o.netdevExclude = "(" }, func(o options) error {
			_, err := newNetdevCollector(o)
			return err
		}},
		{"diskstats", func(o *options) { o.diskExclude = "[" }, func(o options) error {
			_, err := newDiskstatsCollector(o)
			return err
		}},
		{"mount points", func(o *options) { o.mountPointsExclude = "*" }, func(o options) error {
			_, err := newFilesystemCollector(o, promslog.NewNopLogger())
			return err
		}},
		{"fs types", func(o *options) { o.fsTypesExclude = "[z-a]" }, func(o options) error {
			_, err := newFilesystemCollector(o, promslog.NewNopLogger())
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultOptions()
			tt.set(&o)
			err := tt.build(o)
			if err == nil || !strings.Contains(err.Error(), "invalid --collector.") {
				t.Errorf("got error %v, want one naming the flag", err)
			}
		})
	}
}

// realCollectors builds every registered collector with the default
// options, as klaxon-exporter does without flags.
func realCollectors(t *testing.T) map[string]collector.Collector {
	t.Helper()
	cs, err := collector.Default.Build(promslog.NewNopLogger(), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cpu", "diskstats", "filesystem", "loadavg", "meminfo", "netdev", "process"}
	for _, name := range want {
		if cs[name] == nil {
			t.Fatalf("collector %s is not registered", name)
		}
	}
	return cs
}

// TestRealMachine runs every collector against this machine's /proc and
// /sys and checks that promtool accepts the exposition.
func TestRealMachine(t *testing.T) {
	var all []prometheus.Metric
	for name, c := range realCollectors(t) {
		metrics, err := scrape(t.Context(), c)
		switch {
		case errors.Is(err, collector.ErrNoData):
			t.Logf("%s: no data on this machine: %v", name, err)
			continue
		case err != nil:
			t.Errorf("%s: %v", name, err)
			continue
		case len(metrics) == 0:
			t.Errorf("%s: no metrics", name)
		}
		checkNames(t, name, registry(t, metrics))
		all = append(all, metrics...)
	}
	promtool := testenv.Program(t, "promtool")
	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition(t, registry(t, all)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// checkNames checks that every metric of a collector has a valid name in the
// namespace it owns.
func checkNames(t *testing.T, name string, reg prometheus.Gatherer) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("%s: gather: %v", name, err)
	}
	for _, mf := range families {
		n := mf.GetName()
		if !model.LegacyValidation.IsValidMetricName(n) {
			t.Errorf("%s: invalid metric name %q", name, n)
		}
		own := strings.HasPrefix(n, "klaxon_host_")
		if name == "process" {
			own = strings.HasPrefix(n, "process_") || strings.HasPrefix(n, "go_")
		}
		if !own {
			t.Errorf("%s: metric %q is outside the collector's namespace", name, n)
		}
	}
}

func TestUnderRoot(t *testing.T) {
	tests := []struct {
		root, mountPoint string
		want             string
		wantOK           bool
	}{
		{"/", "/home", "/home", true},
		{"/host", "/host", "/", true},
		{"/host", "/host/", "/", true},
		{"/host", "/host/home", "/home", true},
		{"/host", "/hostile", "/hostile", false},
		{"/host", "/etc/hosts", "/etc/hosts", false},
		{"/host/", "/host/var", "/var", true},
	}
	for _, tt := range tests {
		o := defaultOptions()
		o.rootPath = tt.root
		got, ok := newPaths(o).underRoot(tt.mountPoint)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("root %q, underRoot(%q) = %q, %v; want %q, %v", tt.root, tt.mountPoint, got, ok, tt.want, tt.wantOK)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
)

// startTimeout bounds how long a process may take to become ready.
const startTimeout = 30 * time.Second

// TestExporter runs the built klaxon-exporter binary. The subtests share
// one build.
func TestExporter(t *testing.T) {
	bin := testenv.Binary(t, "klaxon-exporter")
	t.Run("metrics", func(t *testing.T) { testMetrics(t, bin) })
	t.Run("config check", func(t *testing.T) { testConfigCheck(t, bin) })
	t.Run("start with bad config", func(t *testing.T) { testStartBadConfig(t, bin) })
	t.Run("reload", func(t *testing.T) { testReload(t, bin) })
	t.Run("scrape timeout header", func(t *testing.T) { testScrapeTimeout(t, bin) })
	t.Run("prometheus", func(t *testing.T) { testPrometheus(t, bin) })
	t.Run("landing page", func(t *testing.T) { testLandingPage(t, bin) })
}

// testLandingPage checks that the landing page lists the collectors and
// probes with how their last scrape went.
func testLandingPage(t *testing.T, bin string) {
	e := startExporter(t, bin, "--config.file=testdata/good.yml")
	before := e.page(t, "/")
	if !strings.Contains(before, "<tr><td>api</td><td class=\"none\">not scraped yet</td>") {
		t.Errorf("before any scrape, the page does not show probe api as not scraped yet:\n%s", before)
	}
	e.scrapeText(t, nil)
	after := e.page(t, "/")
	for _, want := range []string{
		`<tr><td>cpu</td><td class="ok">ok</td>`,
		`<tr><td>api</td><td class="failed">failed</td>`,
		"connection refused", // why api failed: nothing listens there
		`<a href="/metrics">Metrics</a>`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("after a scrape, the page lacks %q:\n%s", want, after)
		}
	}
}

// page gets path and returns the body, failing unless it is 200.
func (e *exporter) page(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + e.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", path, resp.Status)
	}
	return string(b)
}

// hostCollectors are the host collectors on by default that every Linux
// machine can serve.
var hostCollectors = []string{"cpu", "filesystem", "loadavg", "meminfo", "netdev"}

func testMetrics(t *testing.T, bin string) {
	e := startExporter(t, bin, "--config.file=testdata/good.yml")
	if got := e.get(t, "/-/healthy").StatusCode; got != http.StatusOK {
		t.Errorf("/-/healthy: status %d, want 200", got)
	}
	body := e.scrapeText(t, nil)
	mfs := parse(t, body)

	promtool := exec.Command(testenv.Program(t, "promtool"), "check", "metrics")
	promtool.Stdin = strings.NewReader(body)
	if out, err := promtool.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	expect(t, mfs, "klaxon_exporter_build_info", nil, 1)
	for _, c := range hostCollectors {
		expect(t, mfs, "klaxon_exporter_collector_success", labels("collector", c), 1)
	}
	// Nothing listens where testdata/good.yml points its probes.
	expect(t, mfs, "klaxon_exporter_collector_success", labels("collector", "probe:api"), 0)
	expect(t, mfs, "klaxon_exporter_collector_success", labels("collector", "probe:db-port"), 0)
	checkHostSeries(t, mfs)
}

// checkHostSeries checks that each host collector sent its main series.
func checkHostSeries(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	for _, name := range []string{
		"klaxon_host_cpu_seconds_total", "klaxon_host_memory_total_bytes", "klaxon_host_load1",
		"klaxon_host_filesystem_size_bytes", "klaxon_host_network_receive_bytes_total",
	} {
		if len(mfs[name].GetMetric()) == 0 {
			t.Errorf("no %s series", name)
		}
	}
	for _, m := range mfs["klaxon_host_cpu_seconds_total"].GetMetric() {
		if diff := cmp.Diff([]string{"cpu", "mode"}, labelNames(m)); diff != "" {
			t.Fatalf("klaxon_host_cpu_seconds_total label names (-want +got):\n%s", diff)
		}
	}
}

func testConfigCheck(t *testing.T, bin string) {
	for _, tc := range []struct {
		file string
		ok   bool
	}{
		{"testdata/good.yml", true},
		{"testdata/bad-unknown-key.yml", false},
		{"testdata/bad-no-type.yml", false},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			cmd := exec.Command(bin, "--config.check", "--config.file="+tc.file)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			if got := err == nil; got != tc.ok {
				t.Errorf("exit status 0: %v, want %v (err %v)", got, tc.ok, err)
			}
			got, quiet := stdout.String(), stderr.String()
			if !tc.ok {
				got, quiet = quiet, got
			}
			if quiet != "" {
				t.Errorf("unexpected output on the other stream: %q", quiet)
			}
			testkit.Golden(t, goldenFile(tc.file), got)
		})
	}
}

func testStartBadConfig(t *testing.T, bin string) {
	for _, file := range []string{"testdata/bad-unknown-key.yml", "testdata/bad-no-type.yml"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			addr := testenv.FreeAddr(t)
			p := testenv.StartProcess(t, "", bin, "--web.listen-address="+addr, "--log.format=json", "--config.file="+file)
			testenv.Eventually(t, startTimeout, func() error {
				if p.HasExited() {
					return nil
				}
				if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
					resp.Body.Close()
					t.Fatalf("the exporter started with %s:\n%s", file, p.Output())
				}
				return errors.New("still running")
			})
			if p.Cmd.ProcessState.Success() {
				t.Errorf("exit status 0, want a failure")
			}
			want := readGolden(t, goldenFile(file))
			if diff := cmp.Diff(want, loggedError(t, p.Output(), "cannot load config")+"\n"); diff != "" {
				t.Errorf("logged error (-want +got):\n%s", diff)
			}
		})
	}
}

func testReload(t *testing.T, bin string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "klaxon.yml")
	a, b, c := listen(t), listen(t), listen(t)
	writeProbes(t, file, map[string]string{"a": a})
	e := startExporter(t, bin, "--config.file="+file)
	e.awaitProbes(t, 1, "a")

	writeProbes(t, file, map[string]string{"a": a, "b": b})
	if code, body := e.reload(t); code != http.StatusOK {
		t.Fatalf("POST /-/reload: %d %s, want 200", code, body)
	}
	e.awaitProbes(t, 1, "a", "b")

	broken := copyBadConfig(t, file)
	code, body := e.reload(t)
	if code != http.StatusInternalServerError || !strings.Contains(body, broken) {
		t.Errorf("POST /-/reload with a broken config: %d %q, want 500 and %q", code, body, broken)
	}
	e.awaitProbes(t, 0, "a", "b")

	// SIGHUP does what POST /-/reload does.
	writeProbes(t, file, map[string]string{"a": a, "c": c})
	e.signal(t, syscall.SIGHUP)
	e.awaitProbes(t, 1, "a", "c")

	copyBadConfig(t, file)
	e.signal(t, syscall.SIGHUP)
	e.awaitProbes(t, 0, "a", "c")
}

func testScrapeTimeout(t *testing.T, bin string) {
	var accepted atomic.Int32
	stuck := stuckListener(t, &accepted)
	file := filepath.Join(t.TempDir(), "klaxon.yml")
	config := fmt.Sprintf("probes:\n  - name: stuck\n    timeout: 10m\n    http:\n      url: http://%s/health\n", stuck)
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	e := startExporter(t, bin, "--config.file="+file)

	mfs := parse(t, e.scrapeText(t, http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"1"}}))
	testenv.Eventually(t, startTimeout, func() error {
		if accepted.Load() == 0 {
			return errors.New("the probe never connected to the stuck listener")
		}
		return nil
	})
	probe := labels("collector", "probe:stuck")
	expect(t, mfs, "klaxon_exporter_collector_success", probe, 0)
	expect(t, mfs, "klaxon_probe_success", labels("probe", "stuck", "type", "http"), 0)
	// One stuck probe does not spoil the rest of the scrape.
	expect(t, mfs, "klaxon_exporter_collector_success", labels("collector", "cpu"), 1)
	// The probe was cut within the 1s Prometheus announced, not at the
	// exporter's default of 10s; the exporter measured it itself.
	if v, ok := value(mfs, "klaxon_exporter_collector_duration_seconds", probe); !ok || v >= 1 {
		t.Errorf("collector_duration_seconds{collector=\"probe:stuck\"} = %v (present: %v), want below the 1s scrape timeout", v, ok)
	}
}

// testPrometheus has the Prometheus of deploy/prometheus scrape the
// exporter.
func testPrometheus(t *testing.T, bin string) {
	e := startExporter(t, bin)
	prom := testenv.StartPrometheus(t, testenv.PrometheusOptions{
		Targets: map[string][]string{"klaxon-exporter": {e.addr}},
	})
	for _, query := range []string{
		`up{job="klaxon-exporter"} == 1`,
		`klaxon_host_cpu_seconds_total{job="klaxon-exporter",mode="user"}`,
		`klaxon_host_memory_total_bytes{job="klaxon-exporter"} > 0`,
		`klaxon_exporter_collector_success{job="klaxon-exporter",collector="cpu"} == 1`,
	} {
		testenv.Eventually(t, time.Minute, func() error {
			v, err := prom.Query(t.Context(), query)
			if err == nil && len(v) == 0 {
				err = fmt.Errorf("%s returned no series yet", query)
			}
			return err
		})
	}
}

type exporter struct {
	*testenv.Process
	addr string
}

// startExporter starts bin on a free port and waits until it is ready.
func startExporter(t *testing.T, bin string, args ...string) *exporter {
	t.Helper()
	addr := testenv.FreeAddr(t)
	p := testenv.StartProcess(t, "", bin, append([]string{"--web.listen-address=" + addr}, args...)...)
	p.WaitReady(t, "http://"+addr+"/-/ready", startTimeout)
	return &exporter{Process: p, addr: addr}
}

func (e *exporter) get(t *testing.T, path string) *http.Response {
	t.Helper()
	resp, err := http.Get("http://" + e.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// scrapeText scrapes /metrics with header in the text format.
func (e *exporter) scrapeText(t *testing.T, header http.Header) string {
	t.Helper()
	body, err := e.scrape(t.Context(), header)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func (e *exporter) scrape(ctx context.Context, header http.Header) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.addr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/metrics: %s\n%s", resp.Status, b)
	}
	return string(b), nil
}

// reload posts to /-/reload and returns the status and body.
func (e *exporter) reload(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+e.addr+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (e *exporter) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := e.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// awaitProbes waits until a scrape shows exactly the probes named, by their
// collector_success series, and klaxon_exporter_config_last_reload_successful
// equal to reloadOK.
func (e *exporter) awaitProbes(t *testing.T, reloadOK float64, names ...string) {
	t.Helper()
	want := make([]string, len(names))
	for i, n := range names {
		want[i] = "probe:" + n
	}
	testenv.Eventually(t, startTimeout, func() error {
		body, err := e.scrape(t.Context(), nil)
		if err != nil {
			return err
		}
		mfs, err := parseText(body)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, probeCollectors(mfs)); diff != "" {
			return fmt.Errorf("probes (-want +got):\n%s", diff)
		}
		if v, _ := value(mfs, "klaxon_exporter_config_last_reload_successful", nil); v != reloadOK {
			return fmt.Errorf("config_last_reload_successful = %v, want %v", v, reloadOK)
		}
		return nil
	})
}

// probeCollectors lists, sorted, the collector labels of the probes that
// reported collector_success.
func probeCollectors(mfs map[string]*dto.MetricFamily) []string {
	var out []string
	for _, m := range mfs["klaxon_exporter_collector_success"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "collector" && strings.HasPrefix(l.GetValue(), "probe:") {
				out = append(out, l.GetValue())
			}
		}
	}
	slices.Sort(out)
	return out
}

// writeProbes writes a config of tcp probes, name to address.
func writeProbes(t *testing.T, file string, probes map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("probes:\n")
	for _, name := range slices.Sorted(maps.Keys(probes)) {
		fmt.Fprintf(&b, "  - name: %s\n    tcp: {address: %q}\n", name, probes[name])
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyBadConfig writes testdata/bad-unknown-key.yml to file and returns
// the error the exporter should report for it.
func copyBadConfig(t *testing.T, file string) string {
	t.Helper()
	const bad = "testdata/bad-unknown-key.yml"
	data, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := readGolden(t, goldenFile(bad))
	return strings.Replace(strings.TrimSpace(want), bad, file, 1)
}

// listen opens a TCP listener for tcp probes to connect to; the kernel
// completes their connections without Accept.
func listen(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// stuckListener accepts connections, counts them in accepted, and never
// answers; it closes them when the test ends.
func stuckListener(t *testing.T, accepted *atomic.Int32) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			accepted.Add(1)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// loggedError finds the JSON log line with msg and returns its err field.
func loggedError(t *testing.T, output, msg string) string {
	t.Helper()
	for line := range strings.Lines(output) {
		var rec struct{ Msg, Err string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			return rec.Err
		}
	}
	t.Fatalf("no log line with msg %q in:\n%s", msg, output)
	return ""
}

// goldenFile names the file holding what the exporter says about a config
// file: testdata/x.yml → testdata/x.golden.
func goldenFile(config string) string {
	return strings.TrimSuffix(config, ".yml") + ".golden"
}

func readGolden(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parse(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := parseText(body)
	if err != nil {
		t.Fatalf("parsing the scrape: %v\n%s", err, body)
	}
	return mfs
}

func parseText(body string) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(body))
}

func labels(pairs ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

// value returns the value of the series of family name whose labels
// include want.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, m := range mfs[name].GetMetric() {
		if hasLabels(m, want) {
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			default:
				return m.GetUntyped().GetValue(), true
			}
		}
	}
	return 0, false
}

// expect fails t unless the series of family name with labels want has
// value v.
func expect(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string, v float64) {
	t.Helper()
	got, ok := value(mfs, name, want)
	if !ok {
		t.Errorf("no %s series with labels %v", name, want)
		return
	}
	if got != v {
		t.Errorf("%s%v = %v, want %v", name, want, got, v)
	}
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

func labelNames(m *dto.Metric) []string {
	var out []string
	for _, l := range m.GetLabel() {
		out = append(out, l.GetName())
	}
	return out
}

// Package rules holds no Go code, only the tests of Klaxon's Prometheus rule
// files: promtool check rules and promtool test rules on every file, the
// conventions of alerts.yml, the layering (alerts read only recorded series,
// both source files record the same ones), the runbook contract, and the
// Prometheus and Alertmanager configs in deploy/, checked with promtool and
// amtool and, for inhibition, a real Alertmanager.
package rules

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/runbooks"
)

// The rule files, relative to rules/. A Prometheus loads one source file,
// then slo.rules.yml and alerts.yml.
const (
	defaultSource = "klaxon.rules.yml"
	nodeSource    = "node-exporter.rules.yml"
	sloFile       = "slo.rules.yml"
	alertsFile    = "alerts.yml"
	hostGroup     = "klaxon-source-host" // the only group the source files may differ in
)

var sourceFiles = []string{defaultSource, nodeSource}

// Alerts whose value is a plain 0 or 1, so their description has no $value.
var booleanAlerts = []string{"Watchdog", "TargetDown", "HealthCheckFailing", "RedisDown", "ReceiverStoreUnavailable"}

// Runbook sections, in this order, each with content.
var runbookSections = []string{"Symptoms", "Immediate actions", "Investigation", "Resolution", "Prevention"}

type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name  string `yaml:"name"`
	Rules []rule `yaml:"rules"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func rulesDir(t *testing.T) string {
	return filepath.Join(testenv.RepoRoot(t), "rules")
}

func loadYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadRules(t *testing.T, name string) ruleFile {
	t.Helper()
	var f ruleFile
	loadYAML(t, filepath.Join(rulesDir(t), name), &f)
	if len(f.Groups) == 0 {
		t.Fatalf("%s has no rule groups", name)
	}
	return f
}

func alertRules(t *testing.T) []rule {
	t.Helper()
	var out []rule
	for _, g := range loadRules(t, alertsFile).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("%s: group %s has a recording rule %s; recordings belong in *.rules.yml", alertsFile, g.Name, r.Record)
				continue
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no alerts", alertsFile)
	}
	return out
}

func records(f ruleFile) map[string]bool {
	out := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				out[r.Record] = true
			}
		}
	}
	return out
}

// run runs a program and returns its combined output.
func run(t *testing.T, dir, prog string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := testenv.Program(t, "promtool")
	dir := rulesDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{sloFile, alertsFile}, sourceFiles...)
	for _, w := range want {
		if !slices.Contains(files, filepath.Join(dir, w)) {
			t.Fatalf("rules/%s is missing", w)
		}
	}
	if out, err := run(t, dir, promtool, append([]string{"check", "rules"}, files...)...); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := testenv.Program(t, "promtool")
	dir := filepath.Join(rulesDir(t), "tests")
	files, err := filepath.Glob(filepath.Join(dir, "*.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no rules/tests/*.test.yml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := run(t, dir, promtool, "test", "rules", filepath.Base(f))
			if err != nil || !strings.Contains(out, "SUCCESS") {
				t.Fatalf("promtool test rules %s: %v\n%s", filepath.Base(f), err, out)
			}
		})
	}
}

// TestPromtoolTestRulesCanFail feeds promtool a copy of a test file with one
// expected annotation changed, to prove that a wrong expectation fails.
func TestPromtoolTestRulesCanFail(t *testing.T) {
	promtool := testenv.Program(t, "promtool")
	src := filepath.Join(rulesDir(t), "tests", "application.test.yml")
	b := mustRead(t, src)
	const from, to = "(critical from 5%)", "(critical from 6%)"
	if !bytes.Contains(b, []byte(from)) {
		t.Fatalf("%s no longer contains %q; pick another line to break", src, from)
	}
	// the copy keeps its rule_files: ../alerts.yml
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, alertsFile), mustRead(t, filepath.Join(rulesDir(t), alertsFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tests", "broken.test.yml"), bytes.ReplaceAll(b, []byte(from), []byte(to)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, filepath.Join(dir, "tests"), promtool, "test", "rules", "broken.test.yml")
	if err == nil || !strings.Contains(out, "critical from 5%") {
		t.Fatalf("promtool accepted a wrong annotation: %v\n%s", err, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAlertConventions(t *testing.T) {
	seen := map[string][]map[string]string{}
	for _, r := range alertRules(t) {
		name := r.Alert
		if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", name, sev)
		}
		keys := slices.Sorted(maps.Keys(r.Annotations))
		if want := []string{"description", "runbook_url", "summary"}; !slices.Equal(keys, want) {
			t.Errorf("%s: annotations %v, want exactly %v", name, keys, want)
		}
		for _, k := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[k]) == "" {
				t.Errorf("%s: empty %s", name, k)
			}
		}
		if !slices.Contains(booleanAlerts, name) && !regexp.MustCompile(`\{\{ \$value \| humani[sz]e`).MatchString(r.Annotations["description"]) {
			t.Errorf("%s: description does not show {{ $value | humanize... }}: %q", name, r.Annotations["description"])
		}
		if got, want := r.Annotations["runbook_url"], strings.ToLower(name); got != want {
			t.Errorf("%s: runbook_url %q, want %q (relative, the lower-case alert name)", name, got, want)
		}
		if r.Alert != "Watchdog" && r.For == "" {
			t.Errorf("%s: no for: (write for: 0m to say that it fires at once)", name)
		}
		for _, other := range seen[name] {
			if maps.Equal(other, r.Labels) {
				t.Errorf("%s: two rules with the same labels %v; twins must differ in severity", name, r.Labels)
			}
		}
		seen[name] = append(seen[name], r.Labels)
	}
}

// recordedName matches the level:metric:operation names of recorded series.
var recordedName = regexp.MustCompile(`\b[a-z_]+:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+\b`)

// rawName matches the raw metric names the source layer reads.
var rawName = regexp.MustCompile(`\b(?:klaxon|node|http)_[a-zA-Z0-9_]+\b`)

// TestSourceFilesAreInterchangeable checks that both source files record the
// same series, differ only in the host group, and record every series that
// slo.rules.yml and alerts.yml read; and that those two never read what the
// source files read.
func TestSourceFilesAreInterchangeable(t *testing.T) {
	def, node := loadRules(t, defaultSource), loadRules(t, nodeSource)
	if got, want := slices.Sorted(maps.Keys(records(node))), slices.Sorted(maps.Keys(records(def))); !slices.Equal(got, want) {
		t.Errorf("%s records %v\n%s records %v", nodeSource, got, defaultSource, want)
	}
	if len(def.Groups) != len(node.Groups) {
		t.Fatalf("%s has %d groups, %s %d", defaultSource, len(def.Groups), nodeSource, len(node.Groups))
	}
	for i, g := range def.Groups {
		n := node.Groups[i]
		if g.Name != n.Name {
			t.Errorf("group %d: %s in %s, %s in %s", i, g.Name, defaultSource, n.Name, nodeSource)
			continue
		}
		if g.Name != hostGroup && !reflect.DeepEqual(g, n) {
			t.Errorf("group %s differs between %s and %s; only %s may", g.Name, defaultSource, nodeSource, hostGroup)
		}
	}

	slo := loadRules(t, sloFile)
	available := records(slo)
	read := map[string]bool{}
	for _, src := range sourceFiles {
		for _, g := range loadRules(t, src).Groups {
			for _, r := range g.Rules {
				for _, m := range rawNames(r.Expr) {
					read[m] = true
				}
			}
		}
	}
	if len(read) == 0 {
		t.Fatal("found no raw metric in the source files")
	}
	check := func(file string, r rule) {
		name := r.Record + r.Alert
		for _, m := range recordedName.FindAllString(r.Expr, -1) {
			for _, src := range sourceFiles {
				if !records(loadRules(t, src))[m] && !available[m] {
					t.Errorf("%s: %s reads %s, which %s does not record", file, name, m, src)
				}
			}
		}
		for _, m := range rawNames(r.Expr) {
			if read[m] {
				t.Errorf("%s: %s reads the raw metric %s; read a recorded series instead", file, name, m)
			}
		}
	}
	for _, g := range slo.Groups {
		for _, r := range g.Rules {
			check(sloFile, r)
		}
	}
	for _, r := range alertRules(t) {
		check(alertsFile, r)
	}
}

// rawNames returns the raw metric names in a PromQL expression, leaving out
// the parts of recorded names.
func rawNames(expr string) []string {
	return rawName.FindAllString(recordedName.ReplaceAllString(expr, " "), -1)
}

type unitTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name           string `yaml:"name"`
		AlertRuleTests []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertIsTested checks that the promtool tests see every alert rule
// fire, with its labels and all its annotations, and see every alert name
// (but the always-firing Watchdog) stay silent at some time.
func TestEveryAlertIsTested(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(rulesDir(t), "tests", "*.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	fired := map[string]bool{} // alertname + rule labels
	silent := map[string]bool{}
	for _, f := range files {
		var u unitTestFile
		loadYAML(t, f, &u)
		for _, rf := range u.RuleFiles {
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), rf)); err != nil {
				t.Errorf("%s: rule file %s: %v", filepath.Base(f), rf, err)
			}
		}
		for _, tc := range u.Tests {
			for _, at := range tc.AlertRuleTests {
				if len(at.ExpAlerts) == 0 {
					silent[at.Alertname] = true
				}
				for _, e := range at.ExpAlerts {
					fired[at.Alertname+fmt.Sprint(e.ExpLabels["severity"], e.ExpLabels["window"])] = true
					if len(e.ExpAnnotations) != 3 {
						t.Errorf("%s: %s at %s: expects %d annotations, want all 3", filepath.Base(f), at.Alertname, at.EvalTime, len(e.ExpAnnotations))
					}
				}
			}
		}
	}
	for _, r := range alertRules(t) {
		if !fired[r.Alert+fmt.Sprint(r.Labels["severity"], r.Labels["window"])] {
			t.Errorf("no promtool test sees %s %v fire", r.Alert, r.Labels)
		}
		if r.Alert != "Watchdog" && !silent[r.Alert] {
			t.Errorf("no promtool test checks that %s stays silent", r.Alert)
		}
	}
}

// TestRunbooks checks the runbook contract: one runbook per alert name,
// named <runbook_url>.md, no runbook without an alert, and every runbook
// with its sections, in order, each with content.
func TestRunbooks(t *testing.T) {
	names, err := fs.Glob(runbooks.FS, "*.md")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	alertOf := map[string]string{}
	for _, r := range alertRules(t) {
		file := r.Annotations["runbook_url"] + ".md"
		alertOf[file] = r.Alert
		if !have[file] {
			t.Errorf("%s: runbook_url %q does not resolve: runbooks/%s is missing", r.Alert, r.Annotations["runbook_url"], file)
		}
	}
	for _, n := range names {
		alert, ok := alertOf[n]
		if !ok {
			t.Errorf("runbooks/%s belongs to no alert in rules/%s", n, alertsFile)
			continue
		}
		b, err := fs.ReadFile(runbooks.FS, n)
		if err != nil {
			t.Fatal(err)
		}
		checkRunbook(t, n, alert, string(b))
	}
}

var heading = regexp.MustCompile(`(?m)^## (.+?)\s*$`)

func checkRunbook(t *testing.T, file, alert, text string) {
	t.Helper()
	if first, _, _ := strings.Cut(text, "\n"); first != "# "+alert {
		t.Errorf("%s: first line %q, want %q", file, first, "# "+alert)
	}
	for _, bad := range []string{"TODO", "TBD", "FIXME"} {
		if strings.Contains(text, bad) {
			t.Errorf("%s: contains %s", file, bad)
		}
	}
	idx := heading.FindAllStringSubmatchIndex(text, -1)
	var got []string
	for i, m := range idx {
		title := text[m[2]:m[3]]
		got = append(got, title)
		end := len(text)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		if strings.TrimSpace(text[m[1]:end]) == "" {
			t.Errorf("%s: section %q is empty", file, title)
		}
	}
	if !slices.Equal(got, runbookSections) {
		t.Errorf("%s: sections %q, want %q", file, got, runbookSections)
	}
	if !strings.Contains(text, "```promql") {
		t.Errorf("%s: no PromQL query (```promql block)", file)
	}
}

func TestPrometheusConfig(t *testing.T) {
	promtool := testenv.Program(t, "promtool")
	root := testenv.RepoRoot(t)
	path := filepath.Join(root, "deploy", "prometheus", "prometheus.yml")
	if out, err := run(t, root, promtool, "check", "config", path); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}

	var conf struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	loadYAML(t, path, &conf)
	var loaded []string
	for _, rf := range conf.RuleFiles {
		abs := filepath.Clean(filepath.Join(filepath.Dir(path), rf))
		if filepath.Dir(abs) != filepath.Join(root, "rules") {
			t.Errorf("rule_files: %s is not in rules/", rf)
		}
		loaded = append(loaded, filepath.Base(abs))
	}
	if want := []string{defaultSource, sloFile, alertsFile}; !slices.Equal(loaded, want) {
		t.Errorf("rule_files load %v, want %v (one source file, then the SLO, then the alerts)", loaded, want)
	}
	targets := map[string][]string{}
	for _, sc := range conf.ScrapeConfigs {
		for _, s := range sc.StaticConfigs {
			targets[sc.JobName] = append(targets[sc.JobName], s.Targets...)
		}
	}
	for job, want := range map[string]string{"klaxon-exporter": "127.0.0.1:9847", "klaxon-receiver": "127.0.0.1:9848"} {
		if !slices.Contains(targets[job], want) {
			t.Errorf("job %s scrapes %v, want %s", job, targets[job], want)
		}
	}
}

func alertmanagerConfig(t *testing.T) string {
	return filepath.Join(testenv.RepoRoot(t), "deploy", "alertmanager", "alertmanager.yml")
}

func TestAlertmanagerConfig(t *testing.T) {
	amtool := testenv.Program(t, "amtool")
	path := alertmanagerConfig(t)
	dir := filepath.Dir(path)
	if out, err := run(t, dir, amtool, "check-config", path); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}

	var conf struct {
		Route struct {
			GroupBy []string `yaml:"group_by"`
		} `yaml:"route"`
		Receivers []struct {
			Name           string `yaml:"name"`
			WebhookConfigs []struct {
				URL          string `yaml:"url"`
				SendResolved *bool  `yaml:"send_resolved"`
			} `yaml:"webhook_configs"`
		} `yaml:"receivers"`
	}
	loadYAML(t, path, &conf)
	if want := []string{"alertname", "job"}; !slices.Equal(conf.Route.GroupBy, want) {
		t.Errorf("route.group_by %v, want %v", conf.Route.GroupBy, want)
	}
	var names []string
	for _, r := range conf.Receivers {
		names = append(names, r.Name)
		if len(r.WebhookConfigs) != 1 {
			t.Errorf("receiver %s has %d webhook_configs, want 1", r.Name, len(r.WebhookConfigs))
			continue
		}
		w := r.WebhookConfigs[0]
		if want := "http://127.0.0.1:9848/webhook/" + r.Name; w.URL != want {
			t.Errorf("receiver %s posts to %s, want %s", r.Name, w.URL, want)
		}
		if w.SendResolved == nil || !*w.SendResolved {
			t.Errorf("receiver %s: send_resolved is not true", r.Name)
		}
	}
	if want := []string{"critical", "warning", "heartbeat"}; !slices.Equal(names, want) {
		t.Errorf("receivers %v, want %v", names, want)
	}

	for _, tc := range []struct {
		receiver string
		labels   []string
	}{
		{"critical", []string{"alertname=HighErrorRate", "severity=critical", "job=api"}},
		{"critical", []string{"alertname=TargetDown", "severity=critical", "job=klaxon-exporter", "instance=web1:9847"}},
		{"warning", []string{"alertname=HighErrorRate", "severity=warning", "job=api"}},
		{"warning", []string{"alertname=ErrorBudgetBurn", "severity=warning", "window=ticket", "job=api"}},
		{"heartbeat", []string{"alertname=Watchdog", "severity=warning"}},
		{"warning", []string{"alertname=SomethingElse"}},
	} {
		t.Run(tc.receiver+"/"+strings.Join(tc.labels, ","), func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=" + path, "--verify.receivers=" + tc.receiver}, tc.labels...)
			if out, err := run(t, dir, amtool, args...); err != nil {
				t.Errorf("amtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			// and the check can fail: no alert goes to two receivers
			wrong := "critical"
			if tc.receiver == "critical" {
				wrong = "warning"
			}
			args[4] = "--verify.receivers=" + wrong
			if out, err := run(t, dir, amtool, args...); err == nil {
				t.Errorf("amtool %s succeeded; want a mismatch\n%s", strings.Join(args, " "), out)
			}
		})
	}
}

// TestAlertmanagerInhibition runs Alertmanager with deploy/'s config (its
// webhooks pointed at a local server) and checks which alerts it inhibits.
func TestAlertmanagerInhibition(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	am := testenv.StartAlertmanager(t, testenv.AlertmanagerOptions{WebhookBase: hook.URL})

	type tc struct {
		labels    map[string]string
		inhibited bool
	}
	cases := []tc{
		{map[string]string{"alertname": "HighErrorRate", "severity": "critical", "job": "api"}, false},
		{map[string]string{"alertname": "HighErrorRate", "severity": "warning", "job": "api"}, true},
		// another job: not the same target
		{map[string]string{"alertname": "HighErrorRate", "severity": "warning", "job": "shop"}, false},
		// another alert on the same job: not the twin
		{map[string]string{"alertname": "HighResponseTime", "severity": "warning", "job": "api", "route": "GET /items"}, false},
		{map[string]string{"alertname": "HighDiskUsage", "severity": "critical", "job": "klaxon-exporter", "instance": "web1:9847", "device": "/dev/sda1", "mountpoint": "/", "fstype": "ext4"}, false},
		{map[string]string{"alertname": "ErrorBudgetBurn", "severity": "critical", "window": "fast", "job": "api"}, false},
		{map[string]string{"alertname": "ErrorBudgetBurn", "severity": "warning", "window": "ticket", "job": "api"}, true},
		{map[string]string{"alertname": "ReceiverOutboxBacklog", "severity": "critical", "job": "klaxon-receiver", "instance": "am1:9848", "channel": "oncall"}, false},
		{map[string]string{"alertname": "ReceiverOutboxBacklog", "severity": "warning", "job": "klaxon-receiver", "instance": "am1:9848", "channel": "oncall"}, true},
		{map[string]string{"alertname": "ReceiverOutboxBacklog", "severity": "warning", "job": "klaxon-receiver", "instance": "am1:9848", "channel": "slack"}, false},
		{map[string]string{"alertname": "RedisDown", "severity": "critical", "job": "klaxon-exporter", "instance": "web1:9847", "probe": "cache", "type": "redis"}, false},
		{map[string]string{"alertname": "ExporterCollectorFailing", "severity": "warning", "job": "klaxon-exporter", "instance": "web1:9847", "collector": "probe:cache", "probe": "cache"}, true},
		// a host collector is not the failing probe, even on the same exporter
		{map[string]string{"alertname": "ExporterCollectorFailing", "severity": "warning", "job": "klaxon-exporter", "instance": "web1:9847", "collector": "filesystem"}, false},
		{map[string]string{"alertname": "Watchdog", "severity": "warning"}, false},
	}
	var post []testenv.Alert
	for _, c := range cases {
		post = append(post, testenv.Alert{Labels: c.labels})
	}
	if err := am.PostAlerts(t.Context(), post...); err != nil {
		t.Fatal(err)
	}

	key := func(l map[string]string) string { return fmt.Sprint(l) }
	testenv.Eventually(t, 30*time.Second, func() error {
		got, err := am.Alerts(t.Context())
		if err != nil {
			return err
		}
		inhibited := map[string]bool{}
		for _, a := range got {
			inhibited[key(a.Labels)] = a.Status != nil && len(a.Status.InhibitedBy) > 0
		}
		var wrong []string
		for _, c := range cases {
			is, ok := inhibited[key(c.labels)]
			if !ok {
				return fmt.Errorf("alert %v not listed yet", c.labels)
			}
			if is != c.inhibited {
				wrong = append(wrong, fmt.Sprintf("%v: inhibited=%v, want %v", c.labels, is, c.inhibited))
			}
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%s", strings.Join(wrong, "\n"))
		}
		return nil
	})
}

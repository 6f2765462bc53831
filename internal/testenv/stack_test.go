package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.yaml.in/yaml/v3"
)

func TestScaleRanges(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: `rate(x[5m])`, want: `rate(x[5s])`},
		{in: `sum_over_time(a:b:c[1d]) / sum_over_time(a:b:c[30m])`, want: `sum_over_time(a:b:c[24m]) / sum_over_time(a:b:c[30s])`},
		{in: `max_over_time(x[1h:5m])`, want: `max_over_time(x[1m:5s])`},
		{in: `max_over_time(x[1h:])`, want: `max_over_time(x[1m:])`},
		{in: `rate(x[1h30m])`, want: `rate(x[1m30s])`},
		// quoted strings and comments are not PromQL durations
		{in: `x{a=~"[5m]"} # see [1h]` + "\n" + `+ rate(y{b='[1h]', c=` + "`[2h]`" + `}[10m])`,
			want: `x{a=~"[5m]"} # see [1h]` + "\n" + `+ rate(y{b='[1h]', c=` + "`[2h]`" + `}[10s])`},
		{in: `x{a="\"[5m]"}[5m]`, want: `x{a="\"[5m]"}[5s]`},
		{in: `rate(x[5m]`, want: `rate(x[5s]`},
		{in: `rate(x[5m)`, err: "unclosed ["},
		{in: `rate(x[five])`, err: `not a valid duration string: "five"`},
		{in: `rate(x[10ms])`, err: "below a millisecond"},
	} {
		got, err := ScaleRanges(tc.in, 1.0/60)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ScaleRanges(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ScaleRanges(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestScaleRuleFile scales every rule file of rules/ and has promtool
// check the copies, and checks one rule of each kind.
func TestScaleRuleFile(t *testing.T) {
	promtool := Program(t, "promtool")
	files, err := filepath.Glob(filepath.Join(RepoRoot(t), "rules", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rules/*.yml: %v", err)
	}
	dir := t.TempDir()
	var scaled []string
	for _, f := range files {
		dst := filepath.Join(dir, filepath.Base(f))
		if err := ScaleRuleFile(f, dst, 1.0/60); err != nil {
			t.Fatal(err)
		}
		scaled = append(scaled, dst)
	}
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, scaled...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the scaled copies: %v\n%s", err, out)
	}

	var alerts struct {
		Groups []struct {
			Rules []struct{ Alert, Record, Expr, For string }
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &alerts); err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, g := range alerts.Groups {
		for _, r := range g.Rules {
			if r.Alert == "HighErrorRate" && r.For == "5s" {
				found = append(found, "HighErrorRate for 5s")
			}
			if r.Alert == "ExporterCollectorFailing" && strings.Contains(r.Expr, "klaxon_exporter_collector_success[15s]") {
				found = append(found, "ExporterCollectorFailing over 15s")
			}
		}
	}
	if len(found) != 2 {
		t.Errorf("scaled alerts.yml has %v; want HighErrorRate for 5s and ExporterCollectorFailing over 15s", found)
	}
}

func TestAdaptAlertmanager(t *testing.T) {
	doc := readYAML(t, filepath.Join(RepoRoot(t), "deploy", "alertmanager", "alertmanager.yml"))
	if err := adaptAlertmanager(doc, AlertmanagerOptions{WebhookBase: "http://127.0.0.1:1/", TimeScale: 1.0 / 60}); err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Route struct {
			GroupWait     string `yaml:"group_wait"`
			GroupInterval string `yaml:"group_interval"`
			Routes        []struct {
				RepeatInterval string `yaml:"repeat_interval"`
			}
		}
		Receivers []struct {
			WebhookConfigs []struct{ URL string } `yaml:"webhook_configs"`
		}
	}
	if err := doc.Decode(&conf); err != nil {
		t.Fatal(err)
	}
	if conf.Route.GroupWait != "500ms" || conf.Route.GroupInterval != "5s" {
		t.Errorf("root route: group_wait %s, group_interval %s; want 500ms, 5s", conf.Route.GroupWait, conf.Route.GroupInterval)
	}
	if len(conf.Route.Routes) == 0 || conf.Route.Routes[0].RepeatInterval != "1s" {
		t.Errorf("first child route: %+v, want repeat_interval 1s", conf.Route.Routes)
	}
	for _, r := range conf.Receivers {
		for _, w := range r.WebhookConfigs {
			if !strings.HasPrefix(w.URL, "http://127.0.0.1:1/webhook/") {
				t.Errorf("webhook URL %s not moved to http://127.0.0.1:1/webhook/", w.URL)
			}
		}
	}
}

// TestStack runs Prometheus and Alertmanager from deploy/ with scaled
// timings: Prometheus scrapes a target and the always-firing Watchdog
// reaches the webhook's heartbeat route through Alertmanager.
func TestStack(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths[r.URL.Path]++
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	reg := prometheus.NewRegistry()
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(target.Close)

	am := StartAlertmanager(t, AlertmanagerOptions{WebhookBase: hook.URL, TimeScale: 1.0 / 60})
	prom := StartPrometheus(t, PrometheusOptions{
		Targets:      map[string][]string{"app": {strings.TrimPrefix(target.URL, "http://")}},
		Alertmanager: strings.TrimPrefix(am.URL, "http://"),
		TimeScale:    1.0 / 60,
	})

	Eventually(t, time.Minute, func() error {
		v, err := prom.Query(t.Context(), `up{job="app"} == 1`)
		if err == nil && len(v) == 0 {
			err = errors.New("the app target is not up yet")
		}
		return err
	})
	Eventually(t, time.Minute, func() error {
		mu.Lock()
		defer mu.Unlock()
		if paths["/webhook/heartbeat"] < 2 {
			return fmt.Errorf("webhook requests so far: %v; want Watchdog twice at /webhook/heartbeat", paths)
		}
		return nil
	})

	// The API posts alerts the way Prometheus does, and lists them.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	labels := map[string]string{"alertname": "HighErrorRate", "severity": "critical", "job": "api"}
	if err := am.PostAlerts(ctx, Alert{Labels: labels}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, time.Minute, func() error {
		mu.Lock()
		defer mu.Unlock()
		if paths["/webhook/critical"] == 0 {
			return fmt.Errorf("webhook requests so far: %v; want /webhook/critical", paths)
		}
		return nil
	})
	alerts, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range alerts {
		b, _ := json.Marshal(a.Labels)
		names = append(names, string(b))
		if a.Labels["alertname"] == "HighErrorRate" && a.Status != nil && a.Status.State == "active" {
			return
		}
	}
	t.Errorf("Alertmanager lists %v, want the active HighErrorRate", names)
}

// TestAlertmanagerCluster clusters two Alertmanagers on loopback: both
// see the cluster ready with two peers, an alert posted to each reaches
// the webhook, and a group both hold is notified once (they share their
// notification log) while both run.
func TestAlertmanagerCluster(t *testing.T) {
	var mu sync.Mutex
	posts := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/webhook/critical" {
			mu.Lock()
			posts++
			mu.Unlock()
		}
	}))
	t.Cleanup(hook.Close)
	addrs := []string{FreeAddr(t), FreeAddr(t)}
	var ams []*Alertmanager
	for i, addr := range addrs {
		ams = append(ams, StartAlertmanager(t, AlertmanagerOptions{WebhookBase: hook.URL, TimeScale: 1.0 / 60,
			Cluster: &ClusterOptions{Addr: addr, Peers: []string{addrs[1-i]}, PeerTimeout: time.Second}}))
	}
	WaitCluster(t, ams...)

	labels := map[string]string{"alertname": "HighErrorRate", "severity": "critical", "job": "api"}
	for _, am := range ams {
		if err := am.PostAlerts(t.Context(), Alert{Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	Eventually(t, time.Minute, func() error {
		mu.Lock()
		defer mu.Unlock()
		if posts == 0 {
			return errors.New("no notification of the group yet")
		}
		return nil
	})
	// The second Alertmanager waits a peer timeout for the first's
	// entry in the log before it would send; three of them is ample.
	time.Sleep(3 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if posts != 1 {
		t.Errorf("the webhook got %d notifications of one group from two clustered Alertmanagers, want 1", posts)
	}
}

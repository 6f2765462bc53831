package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

const (
	// dashboardRange is the time range the dashboards are queried over:
	// the whole test, as a user opening them at its end would look.
	dashboardRange = 10 * time.Minute
	// dashboardStep is the step of range queries, and $__interval: Grafana
	// never goes below the scrape interval, testenv's 1 s.
	dashboardStep = time.Second
	// scrapeInterval is testenv.StartPrometheus's scrape interval, from
	// which Grafana derives $__rate_interval.
	scrapeInterval = time.Second
)

// addHostExporter starts a second klaxon-exporter with its host
// collectors on and a Redis probe of a stream holding one job, adds it to
// Prometheus's klaxon-exporter job and reloads Prometheus, and waits for
// the series the dashboards read from it: host utilisation, whose alerts
// depend on the machine (so it joins only once the scenarios are over),
// and the age of the oldest waiting job, which a Redis list does not have.
func (s *stack) addHostExporter(t *testing.T) {
	t.Helper()
	began, ctx := time.Now(), t.Context()
	stream := strings.TrimSuffix(s.queue, ":jobs") + ":stream"
	if err := s.redis.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"job": "1"}}).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.redis.Del(context.Background(), stream) })

	conf, err := yaml.Marshal(map[string]any{"probes": []map[string]any{{
		"name":  "streams",
		"redis": map[string]any{"address": s.redis.Options().Addr, "queues": []map[string]string{{"key": stream}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	p := testenv.StartProcess(t, "", testenv.Binary(t, "klaxon-exporter"),
		"--config.file="+writeFile(t, filepath.Join(t.TempDir(), "klaxon-exporter.yml"), conf), "--web.listen-address="+addr)
	p.WaitReady(t, "http://"+addr+"/-/ready", startTimeout)
	s.procs = append(s.procs, p)

	addTarget(t, s.prom.ConfigFile, "klaxon-exporter", addr)
	if err := s.prom.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf(`instance:host_cpu:utilisation_ratio{instance=%q}`, addr),
		fmt.Sprintf(`instance_queue:queue_oldest_job_age:seconds{queue=%q}`, stream),
	} {
		testenv.Eventually(t, startTimeout, func() error {
			v, err := s.prom.Query(ctx, q)
			if err == nil && len(v) == 0 {
				err = fmt.Errorf("%s: no series yet", q)
			}
			return err
		})
	}
	t.Logf("host exporter %s scraped and its series recorded %s after it started", addr, time.Since(began).Round(time.Millisecond))
}

// addTarget adds target to the scrape job of the Prometheus config file.
func addTarget(t *testing.T, file, job, target string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var conf map[string]any
	if err := yaml.Unmarshal(b, &conf); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	jobs, _ := conf["scrape_configs"].([]any)
	for _, j := range jobs {
		sc, _ := j.(map[string]any)
		if sc["job_name"] != job {
			continue
		}
		static, _ := sc["static_configs"].([]any)
		if len(static) == 0 {
			t.Fatalf("%s: job %s has no static_configs", file, job)
		}
		first, _ := static[0].(map[string]any)
		targets, _ := first["targets"].([]any)
		first["targets"] = append(targets, target)
		out, err := yaml.Marshal(conf)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, file, out)
		return
	}
	t.Fatalf("%s: no scrape job %s", file, job)
}

// The parts of Grafana's dashboard JSON that say what Prometheus is
// asked: deploy/grafana/dashboards/*.json.
type (
	grafanaDashboard struct {
		Title       string
		Templating  struct{ List []grafanaVariable }
		Annotations struct {
			List []struct {
				Name string
				Expr string
			}
		}
		Panels []grafanaPanel
	}
	grafanaVariable struct {
		Type       string
		Name       string
		Query      json.RawMessage // a string, or an object with a query
		AllValue   string
		IncludeAll bool
		Current    struct{ Value json.RawMessage } // a string or a list
	}
	grafanaPanel struct {
		Type    string
		Title   string
		Targets []struct {
			Expr    string
			Instant bool
			Range   bool
			Hide    bool
		}
		Panels []grafanaPanel // a collapsed row's
	}
)

// dashboardFiles returns the committed dashboards matching pattern, such
// as "*.json".
func dashboardFiles(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "deploy", "grafana", "dashboards", pattern))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no dashboards %s under deploy/grafana/dashboards", pattern)
	}
	return files
}

// What checkDashboards runs.
const (
	panelsOnly      = false
	withAnnotations = true
)

// checkDashboards runs every query of the dashboard files against the
// Prometheus at promURL as Grafana would, with every template variable at
// All, over the whole test: each must return at least one series. The
// annotations' queries run too when annotations is withAnnotations.
func checkDashboards(t *testing.T, promURL string, files []string, annotations bool) {
	end := time.Now()
	start := end.Add(-dashboardRange)
	api := &promAPI{url: promURL, start: start, end: end}
	queries := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		where := fmt.Sprintf("%s (%s)", d.Title, filepath.Base(file))
		vars := builtins(start, end)
		if !resolveAll(t, api, where, d.Templating.List, vars) {
			continue // its queries cannot be run as Grafana would
		}
		for _, a := range d.Annotations.List {
			if annotations && a.Expr != "" {
				queries++
				checkQuery(t, api, fmt.Sprintf("%s: annotation %q", where, a.Name), a.Expr, false, vars)
			}
		}
		for _, p := range panels(d.Panels) {
			for _, q := range p.Targets {
				if q.Expr == "" || q.Hide {
					continue
				}
				queries++
				checkQuery(t, api, fmt.Sprintf("%s: panel %q", where, p.Title), q.Expr, q.Instant && !q.Range, vars)
			}
		}
	}
	t.Logf("ran %d queries of %d dashboards", queries, len(files))
}

// resolveAll resolves the variables in order, so that one may use those
// before it, and reports whether all could be.
func resolveAll(t *testing.T, api *promAPI, where string, list []grafanaVariable, vars map[string]string) bool {
	t.Helper()
	for _, v := range list {
		if err := resolve(t.Context(), api, v, vars); err != nil {
			t.Errorf("%s: variable %s: %v", where, v.Name, err)
			return false
		}
	}
	return true
}

// panels flattens rows into the panels they hold.
func panels(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, panels(p.Panels)...)
	}
	return out
}

func checkQuery(t *testing.T, api *promAPI, where, expr string, instant bool, vars map[string]string) {
	t.Helper()
	q := interpolate(expr, vars)
	n, err := api.count(t.Context(), q, instant)
	switch {
	case err != nil:
		t.Errorf("%s: %s: %v", where, expr, err)
	case n == 0:
		kind := "range"
		if instant {
			kind = "instant"
		}
		t.Errorf("%s: %s returns no series (%s query %s)", where, expr, kind, q)
	}
}

// builtins are Grafana's own variables for a range queried at
// dashboardStep from a Prometheus scraping every scrapeInterval.
func builtins(start, end time.Time) map[string]string {
	span := end.Sub(start)
	return map[string]string{
		"__interval":      model.Duration(dashboardStep).String(),
		"__interval_ms":   strconv.FormatInt(dashboardStep.Milliseconds(), 10),
		"__rate_interval": model.Duration(max(dashboardStep+scrapeInterval, 4*scrapeInterval)).String(),
		"__range":         model.Duration(span).String(),
		"__range_s":       strconv.FormatInt(int64(span.Seconds()), 10),
		"__range_ms":      strconv.FormatInt(span.Milliseconds(), 10),
	}
}

// labelValues matches the label_values(selector, label) and
// label_values(label) queries of Grafana's Prometheus variables.
var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?([a-zA-Z_]\w*)\s*\)\s*$`)

// resolve adds the variable's value to vars, as Grafana sets it for its
// current selection: All is its allValue, or every value it offers as a
// regular expression. A query variable must offer at least one value.
func resolve(ctx context.Context, api *promAPI, v grafanaVariable, vars map[string]string) error {
	switch v.Type {
	case "datasource":
		return nil // the test's Prometheus
	case "query":
	default:
		return fmt.Errorf("type %q is not supported by this test", v.Type)
	}
	var query string
	if json.Unmarshal(v.Query, &query) != nil {
		var obj struct{ Query string }
		if err := json.Unmarshal(v.Query, &obj); err != nil {
			return fmt.Errorf("query %s: %w", v.Query, err)
		}
		query = obj.Query
	}
	m := labelValues.FindStringSubmatch(query)
	if m == nil {
		return fmt.Errorf("query %q: only label_values(selector, label) is supported by this test", query)
	}
	values, err := api.labelValues(ctx, m[2], interpolate(m[1], vars))
	if err != nil {
		return fmt.Errorf("%s: %w", query, err)
	}
	if len(values) == 0 {
		return fmt.Errorf("%s offers no values", query)
	}
	current := currentValues(v.Current.Value)
	switch {
	case len(current) == 1 && current[0] == "$__all" && v.AllValue != "":
		vars[v.Name] = v.AllValue
	case len(current) == 1 && current[0] == "$__all":
		current = values
		fallthrough
	default:
		quoted := make([]string, len(current))
		for i, c := range current {
			quoted[i] = strings.ReplaceAll(regexp.QuoteMeta(c), `\`, `\\`)
		}
		vars[v.Name] = "(" + strings.Join(quoted, "|") + ")"
	}
	return nil
}

// currentValues decodes a variable's current value: one string or a list.
func currentValues(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var list []string
	_ = json.Unmarshal(raw, &list)
	return list
}

// variableRef matches $name, ${name}, ${name:format} and [[name]].
var variableRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// interpolate replaces the variables in vars as Grafana does, leaving
// any other $ alone.
func interpolate(s string, vars map[string]string) string {
	return variableRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		if v, ok := vars[m[1]+m[2]+m[3]]; ok {
			return v
		}
		return ref
	})
}

// promAPI asks Prometheus's HTTP API what Grafana asks it, over one time
// range.
type promAPI struct {
	url        string
	start, end time.Time
}

// count runs query at the range's end (instant) or over the range, and
// returns how many series it returned.
func (a *promAPI) count(ctx context.Context, query string, instant bool) (int, error) {
	form := url.Values{"query": {query}}
	path := "/api/v1/query_range"
	if instant {
		path = "/api/v1/query"
		form.Set("time", unix(a.end))
	} else {
		form.Set("start", unix(a.start))
		form.Set("end", unix(a.end))
		form.Set("step", strconv.FormatFloat(dashboardStep.Seconds(), 'f', -1, 64))
	}
	var data struct {
		ResultType string
		Result     json.RawMessage
	}
	if err := a.post(ctx, path, form, &data); err != nil {
		return 0, err
	}
	if !slices.Contains([]string{"vector", "matrix"}, data.ResultType) {
		return 1, nil // a scalar or a string is a value
	}
	var series []json.RawMessage
	if err := json.Unmarshal(data.Result, &series); err != nil {
		return 0, err
	}
	return len(series), nil
}

// countNow runs query now and returns how many series it returned.
func (a *promAPI) countNow(ctx context.Context, query string) (int, error) {
	now := *a
	now.end = time.Now()
	return now.count(ctx, query, true)
}

// labelValues returns the values of label in the series that match
// selector ("" for all) over the range.
func (a *promAPI) labelValues(ctx context.Context, label, selector string) ([]string, error) {
	form := url.Values{"start": {unix(a.start)}, "end": {unix(a.end)}}
	if selector != "" {
		form.Set("match[]", selector)
	}
	var values []string
	err := a.get(ctx, "/api/v1/label/"+url.PathEscape(label)+"/values", form, &values)
	return values, err
}

// post sends form to the API and decodes the data of its answer.
func (a *promAPI) post(ctx context.Context, path string, form url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(req, data)
}

// get asks the API with query and decodes the data of its answer.
func (a *promAPI) get(ctx context.Context, path string, query url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url+path+"?"+query.Encode(), nil)
	if err != nil {
		return err
	}
	return do(req, data)
}

func do(req *http.Request, data any) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var answer struct {
		Status string
		Error  string
		Data   json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return fmt.Errorf("%s: %w", resp.Status, err)
	}
	if answer.Status != "success" {
		return fmt.Errorf("%s: %s", resp.Status, answer.Error)
	}
	return json.Unmarshal(answer.Data, data)
}

func unix(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

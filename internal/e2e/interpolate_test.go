package e2e

import (
	"testing"
	"time"
)

// TestInterpolate checks the dashboards check's stand-in for Grafana's
// variable interpolation, which needs no stack.
func TestInterpolate(t *testing.T) {
	end := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	vars := builtins(end.Add(-dashboardRange), end)
	vars["job"] = ".+"
	vars["instance"] = `(127\\.0\\.0\\.1:9100)`
	for _, tc := range []struct{ in, want string }{
		{`rate(x{job=~"$job"}[$__rate_interval])`, `rate(x{job=~".+"}[4s])`},
		{`x{instance=~"${instance}"}`, `x{instance=~"(127\\.0\\.0\\.1:9100)"}`},
		{`x{instance=~"${instance:regex}",job=~"[[job]]"}`, `x{instance=~"(127\\.0\\.0\\.1:9100)",job=~".+"}`},
		{`increase(x[$__range]) / $__range_s`, `increase(x[10m]) / 600`},
		{`rate(x[$__interval])`, `rate(x[1s])`},
		// Not variables of the dashboard: left as they are, as Grafana does.
		{`label_replace(x, "probe", "$1", "collector", "probe:(.+)")`, `label_replace(x, "probe", "$1", "collector", "probe:(.+)")`},
		{`x{job=~"$unknown"}`, `x{job=~"$unknown"}`},
	} {
		if got := interpolate(tc.in, vars); got != tc.want {
			t.Errorf("interpolate(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestLabelValuesQuery(t *testing.T) {
	for _, tc := range []struct{ in, selector, label string }{
		{"label_values(job:http_requests:rate5m, job)", "job:http_requests:rate5m", "job"},
		{`label_values(up{job=~"$job"}, instance)`, `up{job=~"$job"}`, "instance"},
		{`label_values({__name__=~"a|b"}, instance)`, `{__name__=~"a|b"}`, "instance"},
		{"label_values(instance)", "", "instance"},
	} {
		m := labelValues.FindStringSubmatch(tc.in)
		if m == nil || m[1] != tc.selector || m[2] != tc.label {
			t.Errorf("%s: matched %q, want selector %q and label %q", tc.in, m, tc.selector, tc.label)
		}
	}
	for _, q := range []string{"query_result(up)", "metrics(klaxon_.*)", "label_names()"} {
		if labelValues.MatchString(q) {
			t.Errorf("%s matched as label_values", q)
		}
	}
}

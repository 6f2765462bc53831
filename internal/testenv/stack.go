package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// startTimeout bounds how long Prometheus or Alertmanager may take to
// become ready on a loaded machine.
const startTimeout = time.Minute

// AlertmanagerOptions says how StartAlertmanager adapts
// deploy/alertmanager/alertmanager.yml. Nothing else in the file changes:
// routes, matchers, grouping, receivers and inhibitions are the deployed
// ones.
type AlertmanagerOptions struct {
	// WebhookBase replaces the scheme and host of every webhook URL and
	// keeps its path: http://127.0.0.1:9848/webhook/critical becomes
	// WebhookBase+"/webhook/critical". Required.
	WebhookBase string
	// TimeScale multiplies every group_wait, group_interval and
	// repeat_interval of the route tree, so that the routes keep their
	// proportions (1.0/60 turns a minute into a second). 0 keeps them.
	TimeScale float64
	// Cluster, when set, clusters the Alertmanager with its peers
	// instead of running it alone.
	Cluster *ClusterOptions
}

// ClusterOptions cluster Alertmanagers on loopback, as several replicas
// of it run: they gossip their silences and their notification log, so
// that one of them sends each notification.
type ClusterOptions struct {
	// Addr is the cluster's listen address of this Alertmanager (a
	// loopback host:port, see FreeAddr); it advertises it too.
	Addr string
	// Peers are the other Alertmanagers' cluster addresses.
	Peers []string
	// PeerTimeout is how long each Alertmanager waits, per place before
	// it in the cluster, for another to send a notification before it
	// sends it; 0 keeps Alertmanager's 15s.
	PeerTimeout time.Duration
}

// args are the Alertmanager's cluster flags.
func (c *ClusterOptions) args() []string {
	if c == nil {
		return []string{"--cluster.listen-address="}
	}
	args := []string{"--cluster.listen-address=" + c.Addr, "--cluster.advertise-address=" + c.Addr}
	for _, p := range c.Peers {
		args = append(args, "--cluster.peer="+p)
	}
	if c.PeerTimeout > 0 {
		args = append(args, "--cluster.peer-timeout="+model.Duration(c.PeerTimeout).String())
	}
	return args
}

// Alertmanager is a running prometheus-alertmanager.
type Alertmanager struct {
	*Process
	// URL is its base URL, http://127.0.0.1:port.
	URL string
	// ConfigFile is the adapted configuration it runs with.
	ConfigFile string
}

// Alert is an alert as Alertmanager's API v2 takes and lists it. Status is
// set only in what Alerts returns.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
	Status       *AlertStatus      `json:"status,omitempty"`
}

// AlertStatus is Alertmanager's view of an alert.
type AlertStatus struct {
	State       string   `json:"state"`
	InhibitedBy []string `json:"inhibitedBy"`
	SilencedBy  []string `json:"silencedBy"`
}

// StartAlertmanager runs the Debian prometheus-alertmanager on a free
// loopback port with deploy/alertmanager/alertmanager.yml adapted by opts,
// clustering off unless opts.Cluster is set, and its storage in a
// temporary directory, and waits until it is ready. It is killed when
// the test ends.
func StartAlertmanager(t testing.TB, opts AlertmanagerOptions) *Alertmanager {
	t.Helper()
	bin := Program(t, "prometheus-alertmanager")
	if opts.WebhookBase == "" {
		t.Fatal("StartAlertmanager: WebhookBase is required")
	}
	src := filepath.Join(RepoRoot(t), "deploy", "alertmanager", "alertmanager.yml")
	doc := readYAML(t, src)
	if err := adaptAlertmanager(doc, opts); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	dir := t.TempDir()
	conf := writeYAML(t, filepath.Join(dir, "alertmanager.yml"), doc)
	addr := FreeAddr(t)
	args := append([]string{"--config.file=" + conf, "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr}, opts.Cluster.args()...)
	p := StartProcess(t, dir, bin, args...)
	base := "http://" + addr
	p.WaitReady(t, base+"/-/ready", startTimeout)
	return &Alertmanager{Process: p, URL: base, ConfigFile: conf}
}

// adaptAlertmanager points the webhooks at opts.WebhookBase and scales the
// route tree's timings.
func adaptAlertmanager(doc *yaml.Node, opts AlertmanagerOptions) error {
	root := doc.Content[0]
	if opts.TimeScale != 0 {
		route := mapValue(root, "route")
		if route == nil {
			return fmt.Errorf("no route")
		}
		if err := scaleRoute(route, opts.TimeScale); err != nil {
			return err
		}
	}
	n := 0
	for _, r := range seqItems(mapValue(root, "receivers")) {
		for _, w := range seqItems(mapValue(r, "webhook_configs")) {
			u := mapValue(w, "url")
			if u == nil {
				continue
			}
			parsed, err := url.Parse(u.Value)
			if err != nil {
				return fmt.Errorf("line %d: %w", u.Line, err)
			}
			u.Value = strings.TrimSuffix(opts.WebhookBase, "/") + parsed.RequestURI()
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("no webhook URL to point at %s", opts.WebhookBase)
	}
	return nil
}

func scaleRoute(route *yaml.Node, scale float64) error {
	for _, key := range []string{"group_wait", "group_interval", "repeat_interval"} {
		if v := mapValue(route, key); v != nil {
			if err := scaleDurationNode(v, scale); err != nil {
				return err
			}
		}
	}
	for _, child := range seqItems(mapValue(route, "routes")) {
		if err := scaleRoute(child, scale); err != nil {
			return err
		}
	}
	return nil
}

// PostAlerts posts alerts to the API v2, as Prometheus does.
func (a *Alertmanager) PostAlerts(ctx context.Context, alerts ...Alert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("posting %d alerts: %w", len(alerts), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("posting %d alerts: %s: %s", len(alerts), resp.Status, b)
	}
	return nil
}

// ClusterStatus is the cluster part of Alertmanager's API v2 status.
type ClusterStatus struct {
	// Status is "ready", "settling" or "disabled".
	Status string `json:"status"`
	Peers  []struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"peers"`
}

// Cluster reads the Alertmanager's view of its cluster.
func (a *Alertmanager) Cluster(ctx context.Context) (ClusterStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/api/v2/status", nil)
	if err != nil {
		return ClusterStatus{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ClusterStatus{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ClusterStatus{}, fmt.Errorf("reading the status: %s", resp.Status)
	}
	var status struct {
		Cluster ClusterStatus `json:"cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		return ClusterStatus{}, fmt.Errorf("reading the status: %w", err)
	}
	return status.Cluster, nil
}

// WaitCluster waits until every Alertmanager of ams says its cluster is
// ready with all of them as peers (itself included).
func WaitCluster(t testing.TB, ams ...*Alertmanager) {
	t.Helper()
	Eventually(t, startTimeout, func() error {
		for _, a := range ams {
			c, err := a.Cluster(t.Context())
			if err != nil {
				return err
			}
			if c.Status != "ready" || len(c.Peers) != len(ams) {
				return fmt.Errorf("%s: cluster %s with %d peers, want ready with %d", a.URL, c.Status, len(c.Peers), len(ams))
			}
		}
		return nil
	})
}

// Alerts lists the alerts Alertmanager holds, with their status.
func (a *Alertmanager) Alerts(ctx context.Context) ([]Alert, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/api/v2/alerts", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("listing alerts: %s", resp.Status)
	}
	var out []Alert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("listing alerts: %w", err)
	}
	return out, nil
}

// PrometheusOptions says how StartPrometheus adapts
// deploy/prometheus/prometheus.yml.
type PrometheusOptions struct {
	// Targets maps scrape jobs of the deployed file to the addresses they
	// scrape in the test. Jobs it does not name are left out; naming a job
	// the file does not have fails the test.
	Targets map[string][]string
	// Alertmanager is the host:port alerts go to; "" sends none.
	Alertmanager string
	// ScrapeInterval and EvaluationInterval replace the global ones;
	// 0 means 1s. The scrape timeout is the scrape interval.
	ScrapeInterval, EvaluationInterval time.Duration
	// TimeScale, when not 0, loads copies of the rule files in which every
	// for:, keep_firing_for: and range-selector duration (the [5m] of
	// rate(x[5m]), both parts of a subquery) is multiplied by it; see
	// ScaleRuleFile. Thresholds and expressions are otherwise unchanged.
	TimeScale float64
}

// Prometheus is a running prometheus.
type Prometheus struct {
	*Process
	// URL is its base URL, http://127.0.0.1:port.
	URL string
	// ConfigFile is the adapted configuration it runs with.
	ConfigFile string
}

// StartPrometheus runs the Debian prometheus on a free loopback port with
// deploy/prometheus/prometheus.yml adapted by opts: the same rule files
// (from rules/, scaled copies with TimeScale), the same jobs pointed at the
// test's targets, short intervals. It waits until Prometheus is ready and
// kills it when the test ends.
func StartPrometheus(t testing.TB, opts PrometheusOptions) *Prometheus {
	t.Helper()
	bin := Program(t, "prometheus")
	src := filepath.Join(RepoRoot(t), "deploy", "prometheus", "prometheus.yml")
	doc := readYAML(t, src)
	dir := t.TempDir()
	if err := adaptPrometheus(doc, filepath.Dir(src), dir, opts); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	conf := writeYAML(t, filepath.Join(dir, "prometheus.yml"), doc)
	addr := FreeAddr(t)
	eval := cmpOr(opts.EvaluationInterval, time.Second)
	// Prometheus re-sends firing alerts every resend delay and tells
	// Alertmanager they end after four of them unless re-sent; the default
	// of a minute would hide a failed first send for that long.
	resend := 5 * eval
	p := StartProcess(t, dir, bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--rules.alert.resend-delay="+model.Duration(resend).String())
	base := "http://" + addr
	p.WaitReady(t, base+"/-/ready", startTimeout)
	return &Prometheus{Process: p, URL: base, ConfigFile: conf}
}

// Query runs an instant query now and returns its vector.
func (p *Prometheus) Query(ctx context.Context, query string) (model.Vector, error) {
	u := p.URL + "/api/v1/query?" + url.Values{"query": {query}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	defer resp.Body.Close()
	var answer struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     json.RawMessage
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", query, resp.Status, err)
	}
	if answer.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", query, resp.Status, answer.Error)
	}
	if answer.Data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: got a %s, want a vector", query, answer.Data.ResultType)
	}
	var vec model.Vector
	if err := json.Unmarshal(answer.Data.Result, &vec); err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	return vec, nil
}

func adaptPrometheus(doc *yaml.Node, srcDir, dir string, opts PrometheusOptions) error {
	root := doc.Content[0]
	global := mapValue(root, "global")
	if global == nil {
		return fmt.Errorf("no global section")
	}
	scrape := model.Duration(cmpOr(opts.ScrapeInterval, time.Second)).String()
	setMapValue(global, "scrape_interval", scrape)
	setMapValue(global, "scrape_timeout", scrape)
	setMapValue(global, "evaluation_interval", model.Duration(cmpOr(opts.EvaluationInterval, time.Second)).String())

	files := mapValue(root, "rule_files")
	if len(seqItems(files)) == 0 {
		return fmt.Errorf("no rule_files")
	}
	for _, f := range seqItems(files) {
		path := f.Value
		if !filepath.IsAbs(path) {
			path = filepath.Join(srcDir, path)
		}
		if opts.TimeScale != 0 {
			scaled := filepath.Join(dir, "rules", filepath.Base(path))
			if err := ScaleRuleFile(path, scaled, opts.TimeScale); err != nil {
				return err
			}
			path = scaled
		}
		f.Value = path
	}

	if opts.Alertmanager == "" {
		deleteMapKey(root, "alerting")
	} else {
		ams := seqItems(mapValue(mapValue(root, "alerting"), "alertmanagers"))
		if len(ams) != 1 {
			return fmt.Errorf("alerting.alertmanagers has %d entries, want 1", len(ams))
		}
		setMapNode(ams[0], "static_configs", staticConfigs([]string{opts.Alertmanager}))
	}

	jobs := mapValue(root, "scrape_configs")
	var kept []*yaml.Node
	seen := map[string]bool{}
	for _, sc := range seqItems(jobs) {
		name := mapValue(sc, "job_name").Value
		targets, ok := opts.Targets[name]
		if !ok {
			continue
		}
		seen[name] = true
		setMapNode(sc, "static_configs", staticConfigs(targets))
		kept = append(kept, sc)
	}
	for name := range opts.Targets {
		if !seen[name] {
			return fmt.Errorf("no scrape job %q", name)
		}
	}
	jobs.Content = kept
	return nil
}

func staticConfigs(targets []string) *yaml.Node {
	var tn yaml.Node
	if err := tn.Encode([]map[string][]string{{"targets": targets}}); err != nil {
		panic(err) // a slice of maps of strings always encodes
	}
	return &tn
}

// ScaleRuleFile copies the Prometheus rule file src to dst (creating its
// directory) with every for:, keep_firing_for: and range-selector duration
// in expr multiplied by scale: with scale 1.0/60, for: 5m becomes 5s and
// rate(x[5m]) becomes rate(x[5s]). Everything else, thresholds included,
// stays as written. Text inside quoted strings and comments is never
// touched. A scaled duration below a millisecond is an error.
func ScaleRuleFile(src, dst string, scale float64) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if len(doc.Content) == 0 {
		return fmt.Errorf("%s: empty", src)
	}
	for _, g := range seqItems(mapValue(doc.Content[0], "groups")) {
		for _, r := range seqItems(mapValue(g, "rules")) {
			if err := scaleRule(r, scale); err != nil {
				return fmt.Errorf("%s:%d: %w", src, r.Line, err)
			}
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o644)
}

func scaleRule(r *yaml.Node, scale float64) error {
	for _, key := range []string{"for", "keep_firing_for"} {
		if v := mapValue(r, key); v != nil {
			if err := scaleDurationNode(v, scale); err != nil {
				return err
			}
		}
	}
	if e := mapValue(r, "expr"); e != nil {
		s, err := ScaleRanges(e.Value, scale)
		if err != nil {
			return err
		}
		e.Value = s
	}
	return nil
}

// ScaleRanges multiplies the durations between square brackets in a PromQL
// expression (range selectors and subqueries) by scale, leaving quoted
// strings and comments alone.
func ScaleRanges(expr string, scale float64) (string, error) {
	var b strings.Builder
	for i := 0; i < len(expr); {
		switch c := expr[i]; c {
		case '"', '\'', '`':
			j := endOfString(expr, i)
			b.WriteString(expr[i:j])
			i = j
		case '#':
			j := strings.IndexByte(expr[i:], '\n')
			if j < 0 {
				j = len(expr) - i
			}
			b.WriteString(expr[i : i+j])
			i += j
		case '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return "", fmt.Errorf("unclosed [ in %q", expr)
			}
			parts := strings.Split(expr[i+1:i+j], ":")
			for k, p := range parts {
				if strings.TrimSpace(p) == "" { // a subquery's default step
					continue
				}
				d, err := scaleDuration(strings.TrimSpace(p), scale)
				if err != nil {
					return "", fmt.Errorf("range [%s] in %q: %w", expr[i+1:i+j], expr, err)
				}
				parts[k] = d
			}
			b.WriteString("[" + strings.Join(parts, ":") + "]")
			i += j + 1
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// endOfString returns the index just past the string literal starting at
// i; backquoted strings have no escapes.
func endOfString(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}

func scaleDurationNode(n *yaml.Node, scale float64) error {
	d, err := scaleDuration(n.Value, scale)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	n.Value = d
	return nil
}

func scaleDuration(s string, scale float64) (string, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return "", err
	}
	scaled := time.Duration(float64(d) * scale).Round(time.Millisecond)
	if d != 0 && scaled < time.Millisecond {
		return "", fmt.Errorf("%s scaled by %g is below a millisecond", s, scale)
	}
	return model.Duration(scaled).String(), nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func readYAML(t testing.TB, path string) *yaml.Node {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("%s: not a YAML mapping", path)
	}
	return &doc
}

func writeYAML(t testing.TB, path string, doc *yaml.Node) string {
	t.Helper()
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mapValue returns the value of key in the mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setMapNode(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func setMapValue(m *yaml.Node, key, value string) {
	setMapNode(m, key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

func deleteMapKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// seqItems returns the items of the sequence n, or nil.
func seqItems(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

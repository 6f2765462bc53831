package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// HTTPConfig configures an http probe: one request to an application's
// health endpoint, optionally parsing a JSON health body.
type HTTPConfig struct {
	// URL is the http or https URL to request. Credentials in its userinfo
	// are sent as basic auth and redacted in errors.
	URL string `yaml:"url"`
	// Method is the request method, GET by default.
	Method string `yaml:"method"`
	// Headers are added to the request. A Host header sets the request's host.
	Headers map[string]string `yaml:"headers"`
	// BearerToken is sent as "Authorization: Bearer <token>".
	BearerToken commoncfg.Secret `yaml:"bearer_token"`
	// BearerTokenFile holds the token; it is read, and trimmed, at every probe.
	BearerTokenFile string `yaml:"bearer_token_file"`
	// ValidStatusCodes are the healthy status codes; any 2xx when empty.
	ValidStatusCodes []int `yaml:"valid_status_codes"`
	// TLS configures https connections.
	TLS *TLSClientConfig `yaml:"tls"`
	// FollowRedirects follows up to 10 redirects, true by default.
	FollowRedirects bool `yaml:"follow_redirects"`
	// Health, when set, parses the response body as a JSON health document.
	Health *HTTPHealthConfig `yaml:"health"`
}

// HTTPHealthConfig says where a JSON health body keeps its overall status
// and its per-check statuses. Paths are dot-separated object keys (or array
// indexes), as in "data.status".
type HTTPHealthConfig struct {
	// StatusPath leads to the overall status, "status" by default. Empty
	// means the body has none and the overall status is the AND of the checks.
	StatusPath string `yaml:"status_path"`
	// ChecksPath leads to the object or array of checks, "checks" by default.
	// Empty means the body has no checks.
	ChecksPath string `yaml:"checks_path"`
	// CheckStatusPath leads from a check object to its status, "status" by
	// default.
	CheckStatusPath string `yaml:"check_status_path"`
	// HealthyValues are the status values that mean healthy, compared
	// case-insensitively.
	HealthyValues []string `yaml:"healthy_values"`
}

// TLSClientConfig configures the client side of a TLS connection.
type TLSClientConfig struct {
	// CAFile holds PEM certificates to verify the server with, instead of
	// the system roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify accepts any certificate the server presents.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName is the name to verify the certificate against, and to send
	// as SNI, instead of the host being connected to.
	ServerName string `yaml:"server_name"`
}

// DefaultHealthyValues are the health statuses that mean healthy unless a
// probe sets healthy_values.
var DefaultHealthyValues = []string{"ok", "up", "healthy", "pass", "passing", "green", "true"}

// maxHealthBody bounds the health body that is read.
const maxHealthBody = 1 << 20

// maxRedirects bounds the redirects an http probe follows.
const maxRedirects = 10

var (
	httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	headerRE    = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// UnmarshalYAML applies defaults and validates an http probe.
func (c *HTTPConfig) UnmarshalYAML(node *yaml.Node) error {
	*c = HTTPConfig{Method: http.MethodGet, FollowRedirects: true}
	type plain HTTPConfig
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	if err := c.validateURL(node); err != nil {
		return err
	}
	if !slices.Contains(httpMethods, c.Method) {
		return yamlconf.Errorf(nodeOfKey(node, "method"), "http: method %q is not one of %s",
			c.Method, strings.Join(httpMethods, ", "))
	}
	if c.BearerToken != "" && c.BearerTokenFile != "" {
		return yamlconf.Errorf(node, "http: bearer_token and bearer_token_file are mutually exclusive")
	}
	if err := c.validateHeaders(nodeOfKey(node, "headers")); err != nil {
		return err
	}
	for _, code := range c.ValidStatusCodes {
		if code < 100 || code > 599 {
			return yamlconf.Errorf(nodeOfKey(node, "valid_status_codes"),
				"http: valid_status_codes: %d is not an HTTP status code", code)
		}
	}
	if c.Health != nil && c.Method == http.MethodHead {
		return yamlconf.Errorf(nodeOfKey(node, "health"), "http: health needs a body, which method HEAD does not get")
	}
	return nil
}

func (c *HTTPConfig) validateURL(node *yaml.Node) error {
	if c.URL == "" {
		return yamlconf.Errorf(node, "http: url is required")
	}
	at := nodeOfKey(node, "url")
	u, err := url.Parse(c.URL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue.URL may hold credentials
		}
		return yamlconf.Errorf(at, "http: url is not a valid URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return yamlconf.Errorf(at, "http: url %q must start with http:// or https://", u.Redacted())
	}
	if u.Host == "" {
		return yamlconf.Errorf(at, "http: url %q has no host", u.Redacted())
	}
	return nil
}

func (c *HTTPConfig) validateHeaders(node *yaml.Node) error {
	for name := range c.Headers {
		if !headerRE.MatchString(name) {
			return yamlconf.Errorf(node, "http: headers: %q is not a valid header name", name)
		}
		if http.CanonicalHeaderKey(name) == "Authorization" && (c.BearerToken != "" || c.BearerTokenFile != "") {
			return yamlconf.Errorf(node, "http: headers: Authorization conflicts with bearer_token")
		}
	}
	return nil
}

// UnmarshalYAML applies the health defaults and validates them.
func (h *HTTPHealthConfig) UnmarshalYAML(node *yaml.Node) error {
	*h = HTTPHealthConfig{StatusPath: "status", ChecksPath: "checks", CheckStatusPath: "status",
		HealthyValues: DefaultHealthyValues}
	type plain HTTPHealthConfig
	if err := yamlconf.DecodeNode(node, (*plain)(h)); err != nil {
		return err
	}
	switch {
	case h.StatusPath == "" && h.ChecksPath == "":
		return yamlconf.Errorf(node, "http: health: status_path and checks_path cannot both be empty")
	case h.CheckStatusPath == "":
		return yamlconf.Errorf(nodeOfKey(node, "check_status_path"), "http: health: check_status_path cannot be empty")
	case len(h.HealthyValues) == 0:
		return yamlconf.Errorf(nodeOfKey(node, "healthy_values"), "http: health: healthy_values cannot be empty")
	}
	for _, p := range []string{h.StatusPath, h.ChecksPath, h.CheckStatusPath} {
		if slices.Contains(strings.Split(p, "."), "") && p != "" {
			return yamlconf.Errorf(node, "http: health: path %q has an empty element", p)
		}
	}
	return nil
}

// nodeOfKey returns the value node of key in mapping node, or node itself,
// so that an error points at the offending line.
func nodeOfKey(node *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return node
}

// UnmarshalYAML rejects anything but a mapping, which tcp's "tls: true"
// might suggest.
func (t *TLSClientConfig) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		return yamlconf.Errorf(node, "http: tls must be a mapping of ca_file, insecure_skip_verify and server_name")
	}
	type plain TLSClientConfig
	return yamlconf.DecodeNode(node, (*plain)(t))
}

func (c *HTTPConfig) resolvePaths(configFile string) {
	c.BearerTokenFile = yamlconf.ResolvePath(configFile, c.BearerTokenFile)
	if c.TLS != nil {
		c.TLS.CAFile = yamlconf.ResolvePath(configFile, c.TLS.CAFile)
	}
}

// build returns the crypto/tls config. A nil c gives the defaults.
func (c *TLSClientConfig) build() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c == nil {
		return cfg, nil
	}
	cfg.InsecureSkipVerify = c.InsecureSkipVerify
	cfg.ServerName = c.ServerName
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading ca_file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", c.CAFile)
		}
	}
	return cfg, nil
}

// chainExpiry returns the earliest NotAfter of the verified chain the server
// presented (of the longest-lived one, when several verify), or of the
// presented certificates when verification was skipped.
func chainExpiry(state *tls.ConnectionState) (time.Time, bool) {
	var best time.Time
	for _, chain := range state.VerifiedChains {
		if t := earliestNotAfter(chain); t.After(best) {
			best = t
		}
	}
	if best.IsZero() {
		best = earliestNotAfter(state.PeerCertificates)
	}
	return best, !best.IsZero()
}

func earliestNotAfter(certs []*x509.Certificate) time.Time {
	var first time.Time
	for _, c := range certs {
		if first.IsZero() || c.NotAfter.Before(first) {
			first = c.NotAfter
		}
	}
	return first
}

func (c *HTTPConfig) newProber(*Probe) (prober, error) {
	tlsConfig, err := c.TLS.build()
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{}
	transport := &http.Transport{
		DialContext:       dialer.DialContext,
		TLSClientConfig:   tlsConfig,
		ForceAttemptHTTP2: true,
		// Every probe opens a fresh connection, so that it tests connecting
		// and a reloaded config leaves no idle connections behind.
		DisableKeepAlives: true,
	}
	client := &http.Client{Transport: transport, CheckRedirect: c.checkRedirect}
	return &httpProber{config: c, client: client}, nil
}

func (c *HTTPConfig) checkRedirect(_ *http.Request, via []*http.Request) error {
	if !c.FollowRedirects {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

type httpProber struct {
	config *HTTPConfig
	client *http.Client
}

func (p *httpProber) probe(ctx context.Context, e *Emitter) (bool, error) {
	req, err := p.newRequest(ctx)
	if err != nil {
		return false, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false, requestError(ctx, req, err)
	}
	defer resp.Body.Close()

	e.Gauge("probe_http_status_code", "Status code of the http probe's final response.", float64(resp.StatusCode))
	if resp.TLS != nil {
		if t, ok := chainExpiry(resp.TLS); ok {
			e.Gauge("probe_http_tls_cert_expiry_timestamp_seconds",
				"Earliest expiry of the certificate chain the http probe's target presented, as a Unix time in seconds.",
				float64(t.Unix()))
		}
	}
	codeOK := p.validStatus(resp.StatusCode)
	if p.config.Health == nil {
		return codeOK, nil
	}
	body, err := readHealthBody(resp.Body)
	if err != nil {
		return false, err
	}
	healthy, err := p.config.Health.evaluate(body, e)
	if err != nil && !codeOK {
		// An error page with a failing status code is an unhealthy answer,
		// not a garbage one.
		return false, nil
	}
	return codeOK && healthy, err
}

func (p *httpProber) newRequest(ctx context.Context) (*http.Request, error) {
	c := p.config
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	for name, value := range c.Headers {
		if http.CanonicalHeaderKey(name) == "Host" {
			req.Host = value
			continue
		}
		req.Header.Set(name, value)
	}
	token := string(c.BearerToken)
	if c.BearerTokenFile != "" {
		b, err := os.ReadFile(c.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading bearer_token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

func (p *httpProber) validStatus(code int) bool {
	if len(p.config.ValidStatusCodes) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(p.config.ValidStatusCodes, code)
}

// requestError describes a failed request without the credentials that the
// URL may carry. When ctx has ended it says so with ctx.Err(), which the
// framework completes with the reason.
func requestError(ctx context.Context, req *http.Request, err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	inner := ue.Err
	if ctx.Err() != nil {
		inner = ctx.Err()
	}
	return fmt.Errorf("%s %s: %w", req.Method, redactURL(req.URL, ue.URL), inner)
}

// redactURL resolves ref, which may be a relative redirect, against base and
// hides its password.
func redactURL(base *url.URL, ref string) string {
	u, err := base.Parse(ref)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func readHealthBody(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxHealthBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading health body: %w", err)
	}
	if len(body) > maxHealthBody {
		return nil, fmt.Errorf("health body is larger than %d bytes", maxHealthBody)
	}
	return body, nil
}

// quoteStart quotes the start of body for an error message.
func quoteStart(body []byte) string {
	const limit = 64
	if len(body) <= limit {
		return strconv.Quote(string(body))
	}
	return strconv.Quote(strings.ToValidUTF8(string(body[:limit]), "")) + "..."
}

// evaluate parses a health body, sends its overall and per-check statuses
// and reports the overall one. Without an overall status, the checks decide.
func (h *HTTPHealthConfig) evaluate(body []byte, e *Emitter) (bool, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return false, fmt.Errorf("health endpoint returned invalid JSON: %s", quoteStart(body))
	}
	checks, err := h.checks(doc)
	if err != nil {
		return false, err
	}
	healthy, found, err := h.overall(doc)
	if err != nil {
		return false, err
	}
	if !found {
		if len(checks) == 0 {
			return false, fmt.Errorf("health body has no status at %q and no checks at %q: %s",
				h.StatusPath, h.ChecksPath, quoteStart(body))
		}
		healthy = !slices.ContainsFunc(checks, func(c checkResult) bool { return !c.healthy })
	}
	e.Gauge("probe_http_health_status", "1 if the health body's overall status is healthy, 0 otherwise.",
		boolToFloat(healthy))
	for _, c := range checks {
		e.Gauge("probe_http_health_check_status", "1 if the health body reports this check healthy, 0 otherwise.",
			boolToFloat(c.healthy), "check", c.name)
	}
	return healthy, nil
}

// overall reads the overall status; found is false when the body has none.
func (h *HTTPHealthConfig) overall(doc any) (healthy, found bool, err error) {
	if h.StatusPath == "" {
		return false, false, nil
	}
	v, ok := lookupJSON(doc, h.StatusPath)
	if !ok || v == nil {
		return false, false, nil
	}
	healthy, ok = h.healthyValue(v)
	if !ok {
		return false, false, fmt.Errorf("health body: %q is not a string, number or boolean", h.StatusPath)
	}
	return healthy, true, nil
}

type checkResult struct {
	name    string
	healthy bool
}

// checks reads the checks at ChecksPath: an object of named checks or an
// array of checks named by their "name" key (or their index). A check
// named twice is healthy when both are.
func (h *HTTPHealthConfig) checks(doc any) ([]checkResult, error) {
	if h.ChecksPath == "" {
		return nil, nil
	}
	v, ok := lookupJSON(doc, h.ChecksPath)
	if !ok || v == nil {
		return nil, nil
	}
	var out []checkResult
	add := func(name string, healthy bool) {
		if i := slices.IndexFunc(out, func(c checkResult) bool { return c.name == name }); i >= 0 {
			out[i].healthy = out[i].healthy && healthy
			return
		}
		out = append(out, checkResult{name: name, healthy: healthy})
	}
	switch v := v.(type) {
	case map[string]any:
		for name, c := range v {
			add(name, h.checkHealthy(c))
		}
		slices.SortFunc(out, func(a, b checkResult) int { return strings.Compare(a.name, b.name) })
	case []any:
		for i, c := range v {
			add(checkName(c, i), h.checkHealthy(c))
		}
	default:
		return nil, fmt.Errorf("health body: %q is neither an object nor an array of checks", h.ChecksPath)
	}
	return out, nil
}

// checkHealthy judges one check: a bare status, an object holding its
// status at CheckStatusPath, or an array of those that must all be healthy.
// A check without a readable status is unhealthy.
func (h *HTTPHealthConfig) checkHealthy(c any) bool {
	switch c := c.(type) {
	case []any:
		for _, entry := range c {
			if !h.checkHealthy(entry) {
				return false
			}
		}
		return true
	case map[string]any:
		v, ok := lookupJSON(c, h.CheckStatusPath)
		if !ok {
			return false
		}
		healthy, _ := h.healthyValue(v)
		return healthy
	default:
		healthy, _ := h.healthyValue(c)
		return healthy
	}
}

func checkName(c any, index int) string {
	if m, ok := c.(map[string]any); ok {
		if name, ok := m["name"].(string); ok && name != "" {
			return name
		}
	}
	return strconv.Itoa(index)
}

// healthyValue reports whether a scalar status is one of HealthyValues; ok
// is false when v is not a scalar.
func (h *HTTPHealthConfig) healthyValue(v any) (healthy, ok bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case bool:
		s = strconv.FormatBool(v)
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return false, false
	}
	return slices.ContainsFunc(h.HealthyValues, func(hv string) bool { return strings.EqualFold(hv, s) }), true
}

// lookupJSON follows a dot-separated path of object keys and array indexes.
func lookupJSON(doc any, path string) (any, bool) {
	v := doc
	for key := range strings.SplitSeq(path, ".") {
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[key]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			v = node[i]
		default:
			return nil, false
		}
	}
	return v, true
}

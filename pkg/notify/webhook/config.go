package webhook

import (
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// Defaults of a webhook channel.
const (
	DefaultMethod      = http.MethodPost
	DefaultContentType = "application/json"
	DefaultTimeout     = 10 * time.Second
)

// DefaultLimit paces requests to one webhook when the config sets no
// limit: one a second, in bursts of 5. A generic endpoint documents no
// limit of its own; a 429 is retried after its Retry-After.
var DefaultLimit = notify.Limit{Every: time.Second, Burst: 5}

// methods are the methods a channel may send with: each carries the body.
var methods = []string{http.MethodPost, http.MethodPut, http.MethodPatch}

// reservedHeaders are set by the channel or by Go's HTTP client, never by
// the headers map.
var reservedHeaders = map[string]string{
	"Host":              "the URL sets it",
	"Content-Length":    "the body sets it",
	"Content-Type":      "set content_type instead",
	"Transfer-Encoding": "the HTTP client sets it",
	"Connection":        "the HTTP client sets it",
}

// Config is a generic webhook channel: one URL, and the request each
// notification makes to it.
type Config struct {
	// URL, URLFile and URLEnv are mutually exclusive; one is required.
	// The URL may carry a token in its path, query or user info, so it
	// is a secret: the file is read, and trimmed, on every send, and
	// errors show the URL's scheme and host only.
	URL     commoncfg.Secret `yaml:"url"`
	URLFile string           `yaml:"url_file"`
	URLEnv  string           `yaml:"url_env"`
	// URLSuffix is a template in Alertmanager's language, rendered with
	// the notification and appended to the URL, such as
	// `{{ if eq .Kind "trigger" }}/fail{{ end }}`. It is not a secret.
	URLSuffix string `yaml:"url_suffix"`
	// Method is POST, PUT or PATCH.
	Method string `yaml:"method"`
	// Headers are sent with every request, each value inline or a
	// secret read from a file or the environment.
	Headers map[string]Header `yaml:"headers"`
	// ContentType is the body's media type. A JSON one (application/json
	// or any +json type) makes the rendered body be checked as JSON.
	ContentType string `yaml:"content_type"`
	// Body is a template in Alertmanager's language; DefaultBody when
	// unset.
	Body    string        `yaml:"body"`
	Timeout time.Duration `yaml:"timeout"`
	// RateLimit paces the channel's requests.
	RateLimit Limit `yaml:"limit"`
}

// Limit is the YAML of notify.Limit: at most Burst requests at once,
// refilled at one per Every.
type Limit struct {
	Every time.Duration `yaml:"every"`
	Burst int           `yaml:"burst"`
}

// Header is a header's value: a plain string in YAML, or a mapping with
// exactly one of value, value_file and value_env, for a secret. The file
// is read, and trimmed, on every send.
type Header struct {
	Value     commoncfg.Secret `yaml:"value"`
	ValueFile string           `yaml:"value_file"`
	ValueEnv  string           `yaml:"value_env"`
}

// UnmarshalYAML reads a header's value, plain or as a secret.
func (h *Header) UnmarshalYAML(node *yaml.Node) error {
	*h = Header{}
	if node.Kind == yaml.ScalarNode {
		var s string
		if err := node.Decode(&s); err != nil {
			return err
		}
		h.Value = commoncfg.Secret(s)
		return yamlconf.ResolveSecret(node, "value", &h.Value, "", "")
	}
	type plain Header
	if err := yamlconf.DecodeNode(node, (*plain)(h)); err != nil {
		return err
	}
	return notify.CheckSecret(node, "value", &h.Value, h.ValueFile, h.ValueEnv)
}

// Integration is the generic webhook's entry in the registry of
// integrations. It has no built-in channel: a URL alone says nothing of
// the body the endpoint wants.
var Integration = notify.Integration{
	Name:      "webhook",
	NewConfig: func() notify.ChannelConfig { return new(Config) },
}

// NewNotifier builds the channel's notifier.
func (c *Config) NewNotifier(opts notify.Options) (notify.Notifier, error) {
	return notify.Built(New(c, opts))
}

// Limit is the configured limit, DefaultLimit unless set.
func (c *Config) Limit() notify.Limit {
	return notify.Limit{Every: c.RateLimit.Every, Burst: c.RateLimit.Burst}
}

// ResolvePaths makes relative url_file and value_file paths relative to
// the directory of configFile.
func (c *Config) ResolvePaths(configFile string) {
	c.URLFile = yamlconf.ResolvePath(configFile, c.URLFile)
	for name, h := range c.Headers {
		h.ValueFile = yamlconf.ResolvePath(configFile, h.ValueFile)
		c.Headers[name] = h
	}
}

// UnmarshalYAML sets the defaults and validates the channel.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	*c = Config{Method: DefaultMethod, ContentType: DefaultContentType, Timeout: DefaultTimeout,
		RateLimit: Limit{Every: DefaultLimit.Every, Burst: DefaultLimit.Burst}}
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	if err := notify.CheckSecret(node, "url", &c.URL, c.URLFile, c.URLEnv); err != nil {
		return err
	}
	if c.URL != "" {
		if err := checkURL(string(c.URL)); err != nil {
			// The URL is a secret: the error must not repeat it.
			return yamlconf.Errorf(yamlconf.ValueNode(node, "url"), "url: %v", err)
		}
	}
	if err := c.validateRequest(node); err != nil {
		return err
	}
	return c.validateHeaders(yamlconf.ValueNode(node, "headers"))
}

func (c *Config) validateRequest(node *yaml.Node) error {
	c.Method = strings.ToUpper(c.Method)
	if !slices.Contains(methods, c.Method) {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "method"),
			"method must be POST, PUT or PATCH, not %q: each sends the body", c.Method)
	}
	if mt, _, err := mime.ParseMediaType(c.ContentType); err != nil || !strings.Contains(strings.Trim(mt, "/"), "/") {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "content_type"), "content_type %q is not a media type such as application/json", c.ContentType)
	}
	if c.Timeout <= 0 {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "timeout"), "timeout must be more than 0s, not %s", c.Timeout)
	}
	limit := yamlconf.ValueNode(node, "limit")
	if c.RateLimit.Every <= 0 {
		return yamlconf.Errorf(yamlconf.ValueNode(limit, "every"), "limit: every must be more than 0s, not %s", c.RateLimit.Every)
	}
	if c.RateLimit.Burst < 1 {
		return yamlconf.Errorf(yamlconf.ValueNode(limit, "burst"), "limit: burst must be 1 or more, not %d", c.RateLimit.Burst)
	}
	return nil
}

// validateHeaders checks the headers' names, and the values known at
// load; a value_file's is checked when it is read.
func (c *Config) validateHeaders(headers *yaml.Node) error {
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		at := keyNode(headers, name)
		if !validHeaderName(name) {
			return yamlconf.Errorf(at, "headers: %q is not a valid header name", name)
		}
		canonical := http.CanonicalHeaderKey(name)
		if why, ok := reservedHeaders[canonical]; ok {
			return yamlconf.Errorf(at, "headers: %s may not be set: %s", canonical, why)
		}
		if other, ok := seen[canonical]; ok {
			return yamlconf.Errorf(at, "headers: %q and %q name the same header", other, name)
		}
		seen[canonical] = name
		if h := c.Headers[name]; h.ValueFile == "" && !validHeaderValue(string(h.Value)) {
			// The value may be a secret: the error must not repeat it.
			return yamlconf.Errorf(at, "headers: %s: the value holds a control character, such as a newline", name)
		}
	}
	return nil
}

// keyNode is key's key node in mapping node, or node itself.
func keyNode(node *yaml.Node, key string) *yaml.Node {
	for i := 0; node.Kind == yaml.MappingNode && i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i]
		}
	}
	return node
}

// checkURL says what is wrong with a webhook URL without quoting it.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must be an absolute http or https URL")
	case u.Host == "":
		return fmt.Errorf("has no host")
	}
	return nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110, 5.6.2).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v holds no control character but tab.
func validHeaderValue(v string) bool {
	for _, r := range v {
		if (r < ' ' && r != '\t') || r == 0x7f {
			return false
		}
	}
	return true
}

// isJSON reports whether the media type is JSON: application/json or a
// +json type such as application/vnd.api+json.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

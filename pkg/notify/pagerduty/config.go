package pagerduty

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// Defaults of a PagerDuty channel.
const (
	// DefaultURL is the Events API v2 endpoint.
	DefaultURL = "https://events.pagerduty.com/v2/enqueue"
	// DefaultSummary is Alertmanager's subject line, such as
	// "[FIRING:2] HighErrorRate api (critical)".
	DefaultSummary = `{{ template "__subject" . }}`
	// DefaultSource names the affected system: the group's instance
	// label, else its job label, else klaxon-receiver.
	DefaultSource = `{{ with .CommonLabels.instance }}{{ . }}{{ else }}{{ with .CommonLabels.job }}{{ . }}{{ else }}klaxon-receiver{{ end }}{{ end }}`
	// DefaultSeverity is sent for a severity label the severity map does
	// not name.
	DefaultSeverity = "error"
	// DefaultClient is the monitoring tool PagerDuty shows the event came
	// from.
	DefaultClient = "Klaxon"
	// DefaultTimeout bounds one request to PagerDuty.
	DefaultTimeout = 10 * time.Second
)

// severities are the only values PagerDuty accepts in payload.severity.
var severities = []string{"critical", "error", "warning", "info"}

// DefaultSeverities maps the alert's severity label to PagerDuty's
// severity. A configured map adds to it and overrides it.
func DefaultSeverities() map[string]string {
	return map[string]string{"critical": "critical", "error": "error", "warning": "warning", "info": "info"}
}

// Config is a PagerDuty channel: one Events API v2 integration.
type Config struct {
	// RoutingKey, RoutingKeyFile and RoutingKeyEnv are mutually
	// exclusive; one is required. The file is read, and trimmed, on every
	// send; the environment variable RoutingKeyEnv names is read into
	// RoutingKey when the config is loaded.
	RoutingKey     commoncfg.Secret `yaml:"routing_key"`
	RoutingKeyFile string           `yaml:"routing_key_file"`
	RoutingKeyEnv  string           `yaml:"routing_key_env"`
	// URL is the enqueue endpoint.
	URL string `yaml:"url"`
	// Summary and Source are templates in Alertmanager's language.
	Summary string `yaml:"summary"`
	Source  string `yaml:"source"`
	// Severity maps the lower-cased severity label to a PagerDuty
	// severity; DefaultSeverity is sent for any other value.
	Severity        map[string]string `yaml:"severity"`
	DefaultSeverity string            `yaml:"default_severity"`
	// Client and ClientURL name the tool in PagerDuty's event view;
	// ClientURL defaults to Alertmanager's external URL.
	Client    string        `yaml:"client"`
	ClientURL string        `yaml:"client_url"`
	Timeout   time.Duration `yaml:"timeout"`
}

// Integration is PagerDuty's entry in the registry of integrations.
var Integration = notify.Integration{
	Name:      "pagerduty",
	NewConfig: func() notify.ChannelConfig { return new(Config) },
	BuiltIn:   notify.BuiltIn{Env: "PAGERDUTY_INTEGRATION_KEY", YAML: "routing_key_env: PAGERDUTY_INTEGRATION_KEY"},
}

// NewNotifier builds the channel's notifier.
func (c *Config) NewNotifier(opts notify.Options) (notify.Notifier, error) {
	return notify.Built(New(c, opts))
}

// Limit is DefaultLimit.
func (c *Config) Limit() notify.Limit { return DefaultLimit }

// UnmarshalYAML sets the defaults and validates the channel.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	*c = Config{URL: DefaultURL, Summary: DefaultSummary, Source: DefaultSource,
		DefaultSeverity: DefaultSeverity, Client: DefaultClient, Timeout: DefaultTimeout}
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	c.Severity = mergeSeverities(c.Severity)
	return c.validate(node)
}

func mergeSeverities(user map[string]string) map[string]string {
	out := DefaultSeverities()
	for k, v := range user {
		out[strings.ToLower(k)] = v
	}
	return out
}

func (c *Config) validate(node *yaml.Node) error {
	if err := notify.CheckSecret(node, "routing_key", &c.RoutingKey, c.RoutingKeyFile, c.RoutingKeyEnv); err != nil {
		return err
	}
	if err := checkURL("url", c.URL); err != nil {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "url"), "%v", err)
	}
	if c.ClientURL != "" {
		if err := checkURL("client_url", c.ClientURL); err != nil {
			return yamlconf.Errorf(yamlconf.ValueNode(node, "client_url"), "%v", err)
		}
	}
	if !validSeverity(c.DefaultSeverity) {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "default_severity"),
			"default_severity must be one of PagerDuty's severities (critical, error, warning, info), not %q", c.DefaultSeverity)
	}
	for _, label := range slices.Sorted(maps.Keys(c.Severity)) {
		if v := c.Severity[label]; !validSeverity(v) {
			return yamlconf.Errorf(yamlconf.ValueNode(yamlconf.ValueNode(node, "severity"), label),
				"severity %q maps to %q, which is not one of PagerDuty's severities (critical, error, warning, info)", label, v)
		}
	}
	if c.Timeout <= 0 {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "timeout"), "timeout must be more than 0s, not %s", c.Timeout)
	}
	return nil
}

func validSeverity(s string) bool { return slices.Contains(severities, s) }

func checkURL(key, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s must be an absolute http or https URL, not %q", key, raw)
	}
	return nil
}

// ResolvePaths makes a relative routing_key_file relative to the
// directory of configFile.
func (c *Config) ResolvePaths(configFile string) {
	c.RoutingKeyFile = yamlconf.ResolvePath(configFile, c.RoutingKeyFile)
}

// routingKey is the configured key, or the key file's trimmed content.
// A missing or empty file is retried: a secret mount may be late or
// rotating, and the page must not be dropped for it.
func (c *Config) routingKey() (string, error) {
	key, err := notify.ReadSecret(c.RoutingKey, c.RoutingKeyFile)
	if err != nil {
		return "", &notify.Error{Retry: true, Reason: notify.ReasonInvalid, Err: fmt.Errorf("reading routing_key_file: %w", err)}
	}
	if key == "" && c.RoutingKeyFile != "" {
		return "", &notify.Error{Retry: true, Reason: notify.ReasonInvalid, Err: fmt.Errorf("routing_key_file %s is empty", c.RoutingKeyFile)}
	}
	return key, nil
}

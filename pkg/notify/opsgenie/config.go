package opsgenie

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// Defaults of an Opsgenie channel.
const (
	// DefaultRegion is Opsgenie's US service.
	DefaultRegion = "us"
	// DefaultMessage is Alertmanager's subject line, such as
	// "[FIRING:2] HighErrorRate api (critical)".
	DefaultMessage = `{{ template "__subject" . }}`
	// DefaultPriority is sent for a severity label the priorities map
	// does not name.
	DefaultPriority = "P3"
	// DefaultSource is the alert's source field.
	DefaultSource = "klaxon-receiver"
	// DefaultTimeout bounds one request to Opsgenie.
	DefaultTimeout = 10 * time.Second
)

// regions are Opsgenie's API hosts; an EU account must use the EU host.
var regions = map[string]string{
	"us": "https://api.opsgenie.com",
	"eu": "https://api.eu.opsgenie.com",
}

// priorities are the values Opsgenie accepts in priority.
var priorities = []string{"P1", "P2", "P3", "P4", "P5"}

// responderTypes are the responder types of the Alert API.
var responderTypes = []string{"team", "user", "escalation", "schedule"}

// DefaultPriorities maps the alert's severity label to an Opsgenie
// priority. A configured map adds to it and overrides it.
func DefaultPriorities() map[string]string {
	return map[string]string{"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}
}

// Config is an Opsgenie channel: one API integration.
type Config struct {
	// APIKey, APIKeyFile and APIKeyEnv are mutually exclusive; one is
	// required. The file is read, and trimmed, on every send; the
	// environment variable APIKeyEnv names is read into APIKey when the
	// config is loaded.
	APIKey     commoncfg.Secret `yaml:"api_key"`
	APIKeyFile string           `yaml:"api_key_file"`
	APIKeyEnv  string           `yaml:"api_key_env"`
	// Region picks the API host (us or eu); APIURL names one instead.
	Region string `yaml:"region"`
	APIURL string `yaml:"api_url"`
	// Message and Description are templates in Alertmanager's language.
	// An empty Description gets the built-in alert list.
	Message     string `yaml:"message"`
	Description string `yaml:"description"`
	// Priorities maps the lower-cased severity label to P1-P5;
	// DefaultPriority is sent for any other value.
	Priorities      map[string]string `yaml:"priorities"`
	DefaultPriority string            `yaml:"default_priority"`
	// Tags are added to the alertnames, severity and label tags.
	Tags       []string      `yaml:"tags"`
	Responders []Responder   `yaml:"responders"`
	Source     string        `yaml:"source"`
	Timeout    time.Duration `yaml:"timeout"`
}

// Responder is a team, user, escalation or schedule to notify, named by
// exactly one of ID, Name (not for users) and Username (users only).
type Responder struct {
	Type     string `yaml:"type" json:"type"`
	ID       string `yaml:"id" json:"id,omitempty"`
	Name     string `yaml:"name" json:"name,omitempty"`
	Username string `yaml:"username" json:"username,omitempty"`
}

// Integration is Opsgenie's entry in the registry of integrations.
var Integration = notify.Integration{
	Name:      "opsgenie",
	NewConfig: func() notify.ChannelConfig { return new(Config) },
	BuiltIn:   notify.BuiltIn{Env: "OPSGENIE_API_KEY", YAML: "api_key_env: OPSGENIE_API_KEY"},
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
	*c = Config{Message: DefaultMessage, DefaultPriority: DefaultPriority, Source: DefaultSource, Timeout: DefaultTimeout}
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	c.Priorities = mergePriorities(c.Priorities)
	if c.Region == "" && c.APIURL == "" {
		c.Region = DefaultRegion
	}
	if err := c.validateAccess(node); err != nil {
		return err
	}
	return c.validateAlert(node)
}

func mergePriorities(user map[string]string) map[string]string {
	out := DefaultPriorities()
	for k, v := range user {
		out[strings.ToLower(k)] = v
	}
	return out
}

func (c *Config) validateAccess(node *yaml.Node) error {
	if err := notify.CheckSecret(node, "api_key", &c.APIKey, c.APIKeyFile, c.APIKeyEnv); err != nil {
		return err
	}
	if c.Region != "" && c.APIURL != "" {
		return yamlconf.Errorf(node, "at most one of region and api_url may be set")
	}
	if _, ok := regions[c.Region]; c.Region != "" && !ok {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "region"), "region must be us or eu, not %q", c.Region)
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return yamlconf.Errorf(yamlconf.ValueNode(node, "api_url"), "api_url must be an absolute http or https URL, not %q", c.APIURL)
		}
	}
	if c.Timeout <= 0 {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "timeout"), "timeout must be more than 0s, not %s", c.Timeout)
	}
	return nil
}

func (c *Config) validateAlert(node *yaml.Node) error {
	if !slices.Contains(priorities, c.DefaultPriority) {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "default_priority"), "default_priority must be one of P1, P2, P3, P4, P5, not %q", c.DefaultPriority)
	}
	for _, sev := range slices.Sorted(maps.Keys(c.Priorities)) {
		if p := c.Priorities[sev]; !slices.Contains(priorities, p) {
			return yamlconf.Errorf(yamlconf.ValueNode(yamlconf.ValueNode(node, "priorities"), sev),
				"priorities: severity %q maps to %q, which is not one of P1, P2, P3, P4, P5", sev, p)
		}
	}
	if len(c.Tags) > maxTags {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "tags"), "at most %d tags may be set (Opsgenie's limit), not %d", maxTags, len(c.Tags))
	}
	for i, tag := range c.Tags {
		if tag == "" || utf8.RuneCountInString(tag) > maxTagLength {
			return yamlconf.Errorf(yamlconf.ItemNode(node, "tags", i), "tag %q must be 1 to %d characters long", tag, maxTagLength)
		}
	}
	if c.Source == "" || utf8.RuneCountInString(c.Source) > maxSource {
		return yamlconf.Errorf(yamlconf.ValueNode(node, "source"), "source must be 1 to %d characters long", maxSource)
	}
	for i, r := range c.Responders {
		if err := r.validate(); err != "" {
			return yamlconf.Errorf(yamlconf.ItemNode(node, "responders", i), "responder %d: %s", i+1, err)
		}
	}
	return nil
}

// validate returns what is wrong with r, or "".
func (r Responder) validate() string {
	if !slices.Contains(responderTypes, r.Type) {
		return fmt.Sprintf("type must be team, user, escalation or schedule, not %q", r.Type)
	}
	set := 0
	for _, v := range []string{r.ID, r.Name, r.Username} {
		if v != "" {
			set++
		}
	}
	switch {
	case r.Type == "user" && r.Name != "":
		return "a user is named by id or username, not name"
	case r.Type != "user" && r.Username != "":
		return fmt.Sprintf("a %s is named by id or name, not username", r.Type)
	case set != 1 && r.Type == "user":
		return "a user needs exactly one of id and username"
	case set != 1:
		return fmt.Sprintf("a %s needs exactly one of id and name", r.Type)
	}
	return ""
}

// ResolvePaths makes a relative api_key_file relative to the directory
// of configFile.
func (c *Config) ResolvePaths(configFile string) {
	c.APIKeyFile = yamlconf.ResolvePath(configFile, c.APIKeyFile)
}

// baseURL is the API's root, without a trailing slash.
func (c *Config) baseURL() string {
	if c.APIURL != "" {
		return strings.TrimSuffix(c.APIURL, "/")
	}
	return regions[c.Region]
}

// apiKey is the configured key, or the key file's trimmed content. A
// missing or empty file is retried: a secret mount may be late or
// rotating, and the page must not be dropped for it.
func (c *Config) apiKey() (string, error) {
	key, err := notify.ReadSecret(c.APIKey, c.APIKeyFile)
	if err != nil {
		return "", &notify.Error{Retry: true, Reason: notify.ReasonInvalid, Err: fmt.Errorf("reading api_key_file: %w", err)}
	}
	if key == "" && c.APIKeyFile != "" {
		return "", &notify.Error{Retry: true, Reason: notify.ReasonInvalid, Err: fmt.Errorf("api_key_file %s is empty", c.APIKeyFile)}
	}
	return key, nil
}

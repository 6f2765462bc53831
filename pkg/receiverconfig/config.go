// Package receiverconfig is klaxon-receiver's config: the YAML file (or the
// built-in default.yml), read strictly with file:line errors, and the Runtime
// built from it: the channels' notifiers, the roster of users and
// schedules, the runbook resolver and the acknowledgement-link signer. A
// reload replaces the Runtime whole.
package receiverconfig

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/units"
	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/acklink"
	"github.com/klaxonhq/klaxon/pkg/escalation"
	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
	"github.com/klaxonhq/klaxon/pkg/oncall"
	"github.com/klaxonhq/klaxon/pkg/runbook"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// DefaultConfig is the config klaxon-receiver runs with when no
// --config.file is given: routes critical, warning and heartbeat, the
// first two recording incidents under a policy that pages nobody, and no
// channels, as none can work without a key. BuiltIn adds channels from
// the environment.
//
//go:embed default.yml
var DefaultConfig []byte

// BuiltInChannels are the channels BuiltIn adds, each when its environment
// variable is set and not empty, named after its integration. Critical
// pages them all, warning the chat ones.
var BuiltInChannels = integrations.BuiltInChannels()

// BuiltIn is the config klaxon-receiver runs with when no --config.file
// is given: DefaultConfig, plus a channel for each of BuiltInChannels
// whose environment variable is set, on route critical, and on route
// warning for the chat ones. A variable that does not make a working
// channel, such as a SLACK_WEBHOOK_URL that is not a URL, is an error
// naming it; its value is never quoted.
func BuiltIn() (*Config, error) {
	c, err := Parse("built-in config", DefaultConfig)
	if err != nil {
		return nil, err
	}
	if err := builtInAckSecret(&c.Global.KeyConfig); err != nil {
		return nil, err
	}
	for _, b := range BuiltInChannels {
		if strings.TrimSpace(os.Getenv(b.Env)) == "" {
			continue
		}
		ch := Channel{Name: b.Name}
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(b.YAML), &node); err != nil {
			return nil, fmt.Errorf("built-in config: %s: %w", b.Env, err)
		}
		if err := yamlconf.DecodeNode(node.Content[0], &ch); err != nil {
			return nil, fmt.Errorf("built-in config: %s: %s", b.Env, unlocated(err))
		}
		c.Channels = append(c.Channels, ch)
		for i := range c.Routes {
			if r := &c.Routes[i]; r.Name == "critical" || (b.Chat && r.Name == "warning") {
				r.Channels = append(r.Channels, b.Name)
			}
		}
	}
	return c, nil
}

// AckSecretEnv names the variable whose key, when set, signs the built-in
// config's acknowledgement links, so that they outlive a restart.
const AckSecretEnv = "KLAXON_ACK_SECRET"

// builtInAckSecret reads AckSecretEnv into k when it is set, as
// ack_secret_env would.
func builtInAckSecret(k *acklink.KeyConfig) error {
	if os.Getenv(AckSecretEnv) == "" {
		return nil
	}
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("ack_secret_env: "+AckSecretEnv+"\n"), &node); err != nil {
		return fmt.Errorf("built-in config: %s: %w", AckSecretEnv, err)
	}
	k.SecretEnv = AckSecretEnv
	if err := k.Check(node.Content[0]); err != nil {
		return fmt.Errorf("built-in config: %s", unlocated(err))
	}
	return nil
}

// unlocated is a decoding error without its "line N: " prefixes, for
// YAML that is no file of the user's.
func unlocated(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = lineRE.ReplaceAllString(m, "")
	}
	return strings.Join(msgs, "; ")
}

var lineRE = regexp.MustCompile(`^line \d+: `)

// Config is klaxon-receiver's config file.
type Config struct {
	Global    Global    `yaml:"global"`
	Storage   Storage   `yaml:"storage"`
	Channels  []Channel `yaml:"channels"`
	Routes    []Route   `yaml:"routes"`
	Templates []string  `yaml:"templates"`
	// Users, Schedules and EscalationPolicies say who is on call and whom
	// a route with an escalation policy pages.
	Users              []oncall.UserConfig     `yaml:"users"`
	Schedules          []oncall.ScheduleConfig `yaml:"schedules"`
	EscalationPolicies escalation.Policies     `yaml:"escalation_policies"`
}

// Global holds settings that apply to every route and channel.
type Global struct {
	// ExternalURL is where people reach this receiver; links in messages
	// start with it.
	ExternalURL string `yaml:"external_url"`
	// RunbookBaseURL resolves relative runbook_url annotations. Default:
	// the receiver's own /runbooks/ pages.
	RunbookBaseURL string `yaml:"runbook_base_url"`
	// BearerToken, when set, is required on the webhook:
	// Authorization: Bearer <token>, as Alertmanager's http_config sends.
	// BearerTokenEnv names an environment variable holding it, read into
	// BearerToken when the config is loaded.
	BearerToken     commoncfg.Secret `yaml:"bearer_token"`
	BearerTokenFile string           `yaml:"bearer_token_file"`
	BearerTokenEnv  string           `yaml:"bearer_token_env"`
	// MaxBodySize limits a webhook's body; larger ones get 413.
	MaxBodySize units.Base2Bytes `yaml:"max_body_size"`
	// DeadLetterAfter is how long a delivery keeps being retried.
	DeadLetterAfter time.Duration `yaml:"dead_letter_after"`
	// KeyConfig is ack_secret, ack_secret_file or ack_secret_env: the key that signs
	// acknowledgement links and keys the status page's CSRF tokens.
	acklink.KeyConfig `yaml:",inline"`
}

// Defaults.
const (
	DefaultExternalURL     = "http://localhost:9848/"
	DefaultMaxBodySize     = 8 * units.MiB
	DefaultDeadLetterAfter = 24 * time.Hour
	DefaultStoragePath     = "data/klaxon-receiver.db"
)

// Channel is one named destination of exactly one integration.
type Channel = integrations.Channel

// Route is what Alertmanager posts to, as /webhook/<name>.
type Route struct {
	Name string `yaml:"name"`
	// Channels hear of every change of the route's incidents.
	Channels []string `yaml:"channels"`
	// EscalationPolicy, if set, names the policy whose first level the
	// route's chat trigger messages mention.
	EscalationPolicy string `yaml:"escalation_policy"`
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// LoadFile reads and validates a receiver config file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	c.resolvePaths(path)
	if _, err := c.AckKey(); err != nil {
		for _, f := range secretFiles(path, data) {
			if f.key == "ack_secret_file" {
				return nil, fmt.Errorf("%s:%d: %w", path, f.line, err)
			}
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// secretFile is a *_file setting of a config file, such as
// routing_key_file, with its line and its path made relative to the
// config file's directory.
type secretFile struct {
	key, path string
	line      int
}

// secretFiles lists the *_file settings of the config file at path, whose
// content is data, in file order; none when data is not YAML.
func secretFiles(path string, data []byte) []secretFile {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil
	}
	var out []secretFile
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		for i := 0; i < len(n.Content); i++ {
			k := n.Content[i]
			if n.Kind == yaml.MappingNode && i+1 < len(n.Content) && strings.HasSuffix(k.Value, yamlconf.FileSuffix) &&
				n.Content[i+1].Kind == yaml.ScalarNode && n.Content[i+1].Value != "" {
				out = append(out, secretFile{key: k.Value, path: yamlconf.ResolvePath(path, n.Content[i+1].Value), line: k.Line})
			}
			walk(k)
		}
	}
	walk(&root)
	return out
}

// CheckSecretFiles reports every *_file setting of the config file at
// path whose file cannot be read, as "file:line: key: reason". Serving
// tolerates a missing one, which may be mounted late and is retried at
// every send; check-config says so before a page needs it.
func CheckSecretFiles(path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	var errs []error
	for _, f := range secretFiles(path, data) {
		if file, err := os.Open(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, f.line, f.key, err))
		} else {
			file.Close()
		}
	}
	return errors.Join(errs...)
}

// Parse decodes and validates a config; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	// The defaults apply to an empty file too, which never reaches
	// UnmarshalYAML.
	c := defaultConfig()
	if err := yamlconf.Decode(name, data, c); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// AckKey returns the key that signs acknowledgement links, reading
// ack_secret_file afresh, so that a rotated key needs no reload; nil when
// none of ack_secret, ack_secret_file and ack_secret_env is set. The error never quotes
// the key.
func (c *Config) AckKey() ([]byte, error) {
	if !c.Global.Configured() {
		return nil, nil
	}
	key, err := c.Global.Key()
	if err != nil {
		return nil, fmt.Errorf("global: %w", err)
	}
	return key, nil
}

// UnmarshalYAML applies defaults and checks references between sections.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	*c = *defaultConfig()
	type plain Config
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	if err := c.checkChannels(node); err != nil {
		return err
	}
	if err := c.checkRoutes(node); err != nil {
		return err
	}
	return c.checkOnCall(node)
}

func defaultConfig() *Config {
	return &Config{Global: defaultGlobal(), Storage: Storage{Path: DefaultStoragePath, TakeoverAfter: DefaultTakeoverAfter}}
}

func defaultGlobal() Global {
	return Global{
		ExternalURL:     DefaultExternalURL,
		MaxBodySize:     DefaultMaxBodySize,
		DeadLetterAfter: DefaultDeadLetterAfter,
	}
}

// UnmarshalYAML applies the defaults and checks the section, so that its
// errors carry the line of the offending key.
func (g *Global) UnmarshalYAML(node *yaml.Node) error {
	*g = defaultGlobal()
	type plain Global
	if err := yamlconf.DecodeNode(node, (*plain)(g)); err != nil {
		return err
	}
	c := &Config{Global: *g}
	for _, key := range []string{"external_url", "runbook_base_url", "max_body_size", "dead_letter_after"} {
		if err := c.checkGlobal(key); err != nil {
			return yamlconf.Errorf(yamlconf.ValueNode(node, key), "%v", err)
		}
	}
	if err := yamlconf.ResolveSecret(node, "bearer_token", &g.BearerToken, g.BearerTokenFile, g.BearerTokenEnv); err != nil {
		return err
	}
	return g.Check(node)
}

func (c *Config) checkChannels(node *yaml.Node) error {
	seen := map[string]bool{}
	for i, ch := range c.Channels {
		at := yamlconf.ItemNode(node, "channels", i)
		switch {
		case !nameRE.MatchString(ch.Name):
			return yamlconf.Errorf(at, "channel name %q must be letters, digits, '_', '.' or '-'", ch.Name)
		case seen[ch.Name]:
			return yamlconf.Errorf(at, "channel name %q is used twice", ch.Name)
		}
		if err := ch.Check(at); err != nil {
			return err
		}
		seen[ch.Name] = true
	}
	return nil
}

func (c *Config) checkRoutes(node *yaml.Node) error {
	seen := map[string]bool{}
	for i, r := range c.Routes {
		at := yamlconf.ItemNode(node, "routes", i)
		switch {
		case !nameRE.MatchString(r.Name):
			return yamlconf.Errorf(at, "route name %q must be letters, digits, '_', '.' or '-'", r.Name)
		case seen[r.Name]:
			return yamlconf.Errorf(at, "route name %q is used twice", r.Name)
		}
		seen[r.Name] = true
		for j, ch := range r.Channels {
			if slices.Contains(r.Channels[:j], ch) {
				return yamlconf.Errorf(at, "route %q names channel %q twice: it would send every message twice", r.Name, ch)
			}
			if c.Channel(ch) == nil {
				return yamlconf.Errorf(at, "route %q names channel %q, which is not defined (channels: %s)", r.Name, ch, strings.Join(c.channelNames(), ", "))
			}
		}
		if err := c.checkRoutePolicy(r, yamlconf.ValueNode(at, "escalation_policy")); err != nil {
			return err
		}
	}
	return nil
}

// checkRoutePolicy checks that the route's escalation policy, if any,
// exists; at is where errors point.
func (c *Config) checkRoutePolicy(r Route, at *yaml.Node) error {
	if r.EscalationPolicy == "" {
		return nil
	}
	if _, ok := c.EscalationPolicies.Get(r.EscalationPolicy); ok {
		return nil
	}
	return yamlconf.Errorf(at, "route %q names escalation policy %q, which is not defined (escalation policies: %s)",
		r.Name, r.EscalationPolicy, c.policyNames())
}

// checkOnCall compiles users and schedules, and checks that escalation
// policies name only users and schedules that exist. It reports every
// problem at once, each at its line.
func (c *Config) checkOnCall(node *yaml.Node) error {
	var errs []error
	if _, _, err := oncall.Compile(c.Users, c.Schedules); err != nil {
		errs = append(errs, err)
	}
	for i := range c.EscalationPolicies {
		errs = append(errs, c.checkPolicy(&c.EscalationPolicies[i], yamlconf.ItemNode(node, "escalation_policies", i))...)
	}
	return mergeLocated(errs)
}

// checkPolicy runs the policy's own Check against the users and
// schedules and locates each unknown target at its line in node, the
// policy's YAML.
func (c *Config) checkPolicy(p *escalation.Policy, node *yaml.Node) []error {
	targets := targetNodes(node)
	var at []*yaml.Node
	next := 0
	known := func(kind, name string) bool {
		ok := c.knows(kind, name)
		if !ok {
			at = append(at, findTarget(targets, &next, kind, name, node))
		}
		return ok
	}
	err := p.Check(known)
	if err == nil {
		return nil
	}
	var out []error
	for i, e := range unjoin(err) {
		where := node
		if i < len(at) {
			where = at[i]
		}
		out = append(out, yamlconf.Errorf(where, "%v", e))
	}
	return out
}

// knows reports whether a user or a schedule (kind escalation.TargetUser or
// KindSchedule) of that name is configured.
func (c *Config) knows(kind, name string) bool {
	if kind == escalation.TargetUser {
		return slices.ContainsFunc(c.Users, func(u oncall.UserConfig) bool { return u.Name == name })
	}
	return slices.ContainsFunc(c.Schedules, func(s oncall.ScheduleConfig) bool { return s.Name == name })
}

// targetNodes lists the YAML nodes of a policy's targets, level by level.
func targetNodes(policy *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	levels := yamlconf.ValueNode(policy, "levels")
	if levels == policy {
		return nil
	}
	for _, level := range levels.Content {
		if targets := yamlconf.ValueNode(level, "targets"); targets != level {
			out = append(out, targets.Content...)
		}
	}
	// Check asks about the fallback after the levels.
	if fallback := yamlconf.ValueNode(policy, "fallback"); fallback != policy {
		out = append(out, fallback)
	}
	return out
}

// findTarget finds the next target node, from *next on, that names kind
// and name, and moves *next past it; fallback when there is none.
func findTarget(targets []*yaml.Node, next *int, kind, name string, fallback *yaml.Node) *yaml.Node {
	for i := *next; i < len(targets); i++ {
		if v := yamlconf.ValueNode(targets[i], kind); v != targets[i] && v.Value == name {
			*next = i + 1
			return targets[i]
		}
	}
	return fallback
}

// unjoin splits an errors.Join into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// mergeLocated merges errors into one *yaml.TypeError, which yamlconf.Decode
// prefixes with the file name line by line; nil without errors.
func mergeLocated(errs []error) error {
	var msgs []string
	for _, err := range errs {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs = append(msgs, te.Errors...)
			continue
		}
		msgs = append(msgs, err.Error())
	}
	if len(msgs) == 0 {
		return nil
	}
	return &yaml.TypeError{Errors: msgs}
}

// check validates the global section once more, for a config whose
// global section was not decoded from YAML.
func (c *Config) check() error {
	for _, key := range []string{"external_url", "runbook_base_url", "bearer_token_file", "max_body_size", "dead_letter_after"} {
		if err := c.checkGlobal(key); err != nil {
			return err
		}
	}
	return nil
}

// checkGlobal checks the global setting named key.
func (c *Config) checkGlobal(key string) error {
	switch key {
	case "external_url":
		_, err := c.ExternalURL()
		return err
	case "runbook_base_url":
		_, err := c.RunbookBase()
		return err
	case "bearer_token_file":
		// In YAML, yamlconf.ResolveSecret checks this and reads
		// bearer_token_env into bearer_token.
		if c.Global.BearerTokenEnv == "" && c.Global.BearerToken != "" && c.Global.BearerTokenFile != "" {
			return fmt.Errorf("global: at most one of bearer_token, bearer_token_file and bearer_token_env may be set")
		}
	case "max_body_size":
		if c.Global.MaxBodySize <= 0 {
			return fmt.Errorf("global: max_body_size must be positive")
		}
	case "dead_letter_after":
		if c.Global.DeadLetterAfter <= 0 {
			return fmt.Errorf("global: dead_letter_after must be positive")
		}
	}
	return nil
}

// ExternalURL is global.external_url parsed.
func (c *Config) ExternalURL() (*url.URL, error) {
	u, err := url.Parse(c.Global.ExternalURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("global: external_url %q must be an absolute http or https URL", c.Global.ExternalURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// RunbookBase is where relative runbook_url annotations point:
// global.runbook_base_url, or the receiver's own /runbooks/ pages.
func (c *Config) RunbookBase() (*url.URL, error) {
	if c.Global.RunbookBaseURL != "" {
		u, err := runbook.ParseBase(c.Global.RunbookBaseURL)
		if err != nil {
			return nil, fmt.Errorf("global: runbook_base_url: %w", err)
		}
		return u, nil
	}
	ext, err := c.ExternalURL()
	if err != nil {
		return nil, err
	}
	return runbook.DefaultBase(ext), nil
}

// BearerToken returns the token the webhook requires, "" for none. A
// bearer_token_file is read at every call, so a rotated token needs no
// reload.
func (c *Config) BearerToken() (string, error) {
	if c.Global.BearerTokenFile == "" {
		return string(c.Global.BearerToken), nil
	}
	b, err := os.ReadFile(c.Global.BearerTokenFile)
	if err != nil {
		return "", fmt.Errorf("reading bearer_token_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Route returns the named route, or nil.
func (c *Config) Route(name string) *Route {
	for i := range c.Routes {
		if c.Routes[i].Name == name {
			return &c.Routes[i]
		}
	}
	return nil
}

// Channel returns the named channel, or nil.
func (c *Config) Channel(name string) *Channel {
	for i := range c.Channels {
		if c.Channels[i].Name == name {
			return &c.Channels[i]
		}
	}
	return nil
}

func (c *Config) policyNames() string {
	if len(c.EscalationPolicies) == 0 {
		return "none"
	}
	names := make([]string, len(c.EscalationPolicies))
	for i, p := range c.EscalationPolicies {
		names[i] = p.Name
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func (c *Config) channelNames() []string {
	names := make([]string, len(c.Channels))
	for i, ch := range c.Channels {
		names[i] = ch.Name
	}
	slices.Sort(names)
	return names
}

func (c *Config) resolvePaths(configFile string) {
	c.Global.BearerTokenFile = yamlconf.ResolvePath(configFile, c.Global.BearerTokenFile)
	c.Global.ResolvePaths(configFile)
	if pg := c.Storage.Postgres; pg != nil {
		pg.DSNFile = yamlconf.ResolvePath(configFile, pg.DSNFile)
	}
	for i := range c.Templates {
		c.Templates[i] = yamlconf.ResolvePath(configFile, c.Templates[i])
	}
	for _, ch := range c.Channels {
		ch.ResolvePaths(configFile)
	}
}

package probe

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// DefaultTimeout bounds a probe that sets no timeout. The scrape deadline
// bounds every probe as well.
const DefaultTimeout = 5 * time.Second

// Config is the exporter's config file.
type Config struct {
	Probes []Probe `yaml:"probes"`
}

// Probe is one named application probe. Exactly one of HTTP, TCP, Postgres
// and Redis is set.
type Probe struct {
	Name    string            `yaml:"name"`
	Timeout time.Duration     `yaml:"timeout"`
	Labels  map[string]string `yaml:"labels"`

	HTTP     *HTTPConfig     `yaml:"http"`
	TCP      *TCPConfig      `yaml:"tcp"`
	Postgres *PostgresConfig `yaml:"postgres"`
	Redis    *RedisConfig    `yaml:"redis"`
}

// kind is implemented by the config of each probe type.
type kind interface {
	// newProber builds the prober once per config load.
	newProber(p *Probe) (prober, error)
}

// fileResolver is implemented by probe configs that name files, so that
// relative paths are taken relative to the config file.
type fileResolver interface {
	resolvePaths(configFile string)
}

// LoadFile reads and validates an exporter config file.
func LoadFile(path string) (*Config, error) {
	c := &Config{}
	if err := yamlconf.LoadFile(path, c); err != nil {
		return nil, err
	}
	for i := range c.Probes {
		if r, ok := c.Probes[i].kind().(fileResolver); ok {
			r.resolvePaths(path)
		}
	}
	return c, nil
}

// UnmarshalYAML decodes the config and checks that probe names are unique.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	type plain Config
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, p := range c.Probes {
		if seen[p.Name] {
			return yamlconf.Errorf(yamlconf.ItemNode(node, "probes", i), "probe name %q is used twice", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

var (
	nameRE      = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	// reservedLabels are set by the exporter itself.
	reservedLabels = []string{"probe", "type", "collector", "check", "state", "application", "queue", "instance", "job"}
)

// UnmarshalYAML applies defaults and validates one probe.
func (p *Probe) UnmarshalYAML(node *yaml.Node) error {
	*p = Probe{Timeout: DefaultTimeout}
	type plain Probe
	if err := yamlconf.DecodeNode(node, (*plain)(p)); err != nil {
		return err
	}
	if !nameRE.MatchString(p.Name) {
		return yamlconf.Errorf(node, "probe name %q must be letters, digits, '_', '.' or '-'", p.Name)
	}
	if p.Timeout <= 0 {
		return yamlconf.Errorf(node, "probe %q: timeout must be positive", p.Name)
	}
	for k := range p.Labels {
		if !labelNameRE.MatchString(k) || slices.Contains(reservedLabels, k) {
			return yamlconf.Errorf(node, "probe %q: %q cannot be a label name (reserved: %v)", p.Name, k, reservedLabels)
		}
	}
	if n := p.kinds(); n != 1 {
		return yamlconf.Errorf(node, "probe %q must have exactly one of http, tcp, postgres or redis (it has %d)", p.Name, n)
	}
	return nil
}

// Type is the probe's type: http, tcp, postgres or redis.
func (p *Probe) Type() string {
	switch {
	case p.HTTP != nil:
		return "http"
	case p.TCP != nil:
		return "tcp"
	case p.Postgres != nil:
		return "postgres"
	case p.Redis != nil:
		return "redis"
	}
	return ""
}

func (p *Probe) kind() kind {
	switch {
	case p.HTTP != nil:
		return p.HTTP
	case p.TCP != nil:
		return p.TCP
	case p.Postgres != nil:
		return p.Postgres
	case p.Redis != nil:
		return p.Redis
	}
	return nil
}

func (p *Probe) kinds() int {
	n := 0
	for _, set := range []bool{p.HTTP != nil, p.TCP != nil, p.Postgres != nil, p.Redis != nil} {
		if set {
			n++
		}
	}
	return n
}

// String names the probe in logs and errors.
func (p *Probe) String() string { return fmt.Sprintf("%s probe %q", p.Type(), p.Name) }

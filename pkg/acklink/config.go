package acklink

import (
	"fmt"
	"os"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// KeyConfig is the signing key in the receiver's config, meant to be
// inlined into its global section. At most one of the keys is set; with
// none, the receiver generates a key at start (see GenerateKey).
type KeyConfig struct {
	// Secret is the key itself, at least MinKeySize bytes.
	Secret commoncfg.Secret `yaml:"ack_secret,omitempty"`
	// SecretFile holds the key, trimmed of surrounding white space. It
	// is read by Key, that is when the config is loaded or reloaded.
	SecretFile string `yaml:"ack_secret_file,omitempty"`
	// SecretEnv names an environment variable holding the key, read into
	// Secret by Check.
	SecretEnv string `yaml:"ack_secret_env,omitempty"`
}

// Check validates c, reporting errors at node, the mapping that holds the
// keys, and reads ack_secret_env's variable into Secret. A key file is
// checked later, by Key.
func (c *KeyConfig) Check(node *yaml.Node) error {
	if err := yamlconf.ResolveSecret(node, "ack_secret", &c.Secret, c.SecretFile, c.SecretEnv); err != nil {
		return err
	}
	switch {
	case c.SecretEnv != "" && len(c.Secret) < MinKeySize:
		return yamlconf.Errorf(keyNode(node, "ack_secret_env"), "ack_secret_env: environment variable %s must hold at least %d bytes, it has %d",
			c.SecretEnv, MinKeySize, len(c.Secret))
	case c.Secret != "" && len(c.Secret) < MinKeySize:
		return yamlconf.Errorf(keyNode(node, "ack_secret"), "ack_secret must be at least %d bytes, it has %d", MinKeySize, len(c.Secret))
	}
	return nil
}

// keyNode is the node of key in mapping node, or node itself if it has
// none, so that errors point at the right line.
func keyNode(node *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i]
		}
	}
	return node
}

// ResolvePaths makes SecretFile relative to the config file's directory.
func (c *KeyConfig) ResolvePaths(configFile string) {
	c.SecretFile = yamlconf.ResolvePath(configFile, c.SecretFile)
}

// Configured reports whether a key is configured at all.
func (c *KeyConfig) Configured() bool { return c.Secret != "" || c.SecretFile != "" }

// Key returns the configured key, reading SecretFile afresh. It fails if
// none is configured, the file cannot be read, or the key is too short;
// the error never quotes the key.
func (c *KeyConfig) Key() ([]byte, error) {
	if !c.Configured() {
		return nil, fmt.Errorf("none of ack_secret, ack_secret_file and ack_secret_env is set")
	}
	key := string(c.Secret)
	if c.SecretFile != "" {
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("reading ack_secret_file: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	if len(key) < MinKeySize {
		what := "ack_secret"
		if c.SecretFile != "" {
			what = "ack_secret_file " + c.SecretFile
		}
		return nil, fmt.Errorf("%s must hold at least %d bytes, it has %d", what, MinKeySize, len(key))
	}
	return []byte(key), nil
}

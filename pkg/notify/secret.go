package notify

import (
	"os"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// CheckSecret enforces the rule every integration's secret follows: key
// (such as "routing_key"), its key_file or its key_env sibling, exactly
// one of them. It reads key_env's variable into *inline and refuses a
// ${...} reference inline (see yamlconf.ResolveSecret). Its errors point at
// node and never quote the secret.
func CheckSecret(node *yaml.Node, key string, inline *commoncfg.Secret, file, env string) error {
	if *inline == "" && file == "" && env == "" {
		return yamlconf.Errorf(node, "one of %s, %s%s and %s%s is required", key, key, yamlconf.FileSuffix, key, yamlconf.EnvSuffix)
	}
	return yamlconf.ResolveSecret(node, key, inline, file, env)
}

// ReadSecret is the secret to send: inline when file is empty, else the
// file's content, read afresh on every call so that a rotated secret is
// picked up without a reload, and trimmed. The caller words and
// classifies the error, which is os.ReadFile's.
func ReadSecret(inline commoncfg.Secret, file string) (string, error) {
	if file == "" {
		return string(inline), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

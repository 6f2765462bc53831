package notify

import (
	"os"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/config"
)

// CheckSecret enforces the rule every integration's secret follows: key
// (such as "routing_key") or its key_file sibling, exactly one of them.
// Its errors point at node and never quote the secret.
func CheckSecret(node *yaml.Node, key string, inline commoncfg.Secret, file string) error {
	switch {
	case inline == "" && file == "":
		return config.Errorf(node, "one of %s and %s_file is required", key, key)
	case inline != "" && file != "":
		return config.Errorf(node, "at most one of %s and %s_file may be set", key, key)
	}
	return nil
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

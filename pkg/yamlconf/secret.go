package yamlconf

import (
	"os"
	"regexp"
	"slices"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// A secret setting, such as "routing_key", is spelled three ways in a
// config file: inline (routing_key), as a file read at use
// (routing_key_file), or as the name of an environment variable read at
// load (routing_key_env).
const (
	FileSuffix = "_file"
	EnvSuffix  = "_env"
)

var (
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// wholeRefRE is a value that is nothing but a shell-style reference,
	// $NAME or ${NAME}, whose name it is safe to quote.
	wholeRefRE = regexp.MustCompile(`^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$`)
)

// ResolveSecret checks the secret setting key in mapping node: at most one
// of key, key_file and key_env is set; key_env names an environment
// variable that is set and not empty, whose value it stores in *inline;
// an inline value is not a ${...} reference, which nothing expands. It
// sets nothing when none is given. Its errors point at node's lines and
// never quote a secret.
func ResolveSecret(node *yaml.Node, key string, inline *commoncfg.Secret, file, env string) error {
	fileKey, envKey := key+FileSuffix, key+EnvSuffix
	if countSet(string(*inline), file, env) > 1 {
		return Errorf(lastKey(node, key, fileKey, envKey), "at most one of %s, %s and %s may be set", key, fileKey, envKey)
	}
	if env != "" {
		return resolveEnv(ValueNode(node, envKey), envKey, inline, env)
	}
	return checkUnexpanded(ValueNode(node, key), key, string(*inline))
}

// lastKey is the last of keys in mapping node, the one that makes a
// setting too many; node itself when it has none of them.
func lastKey(node *yaml.Node, keys ...string) *yaml.Node {
	last := node
	for i := 0; i+1 < len(node.Content); i += 2 {
		if k := node.Content[i]; slices.Contains(keys, k.Value) {
			last = k
		}
	}
	return last
}

func countSet(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}

// resolveEnv reads the environment variable name into *inline.
func resolveEnv(at *yaml.Node, envKey string, inline *commoncfg.Secret, name string) error {
	if !envNameRE.MatchString(name) {
		return Errorf(at, "%s must name an environment variable (letters, digits and '_'), not %q", envKey, name)
	}
	v, ok := os.LookupEnv(name)
	switch {
	case !ok:
		return Errorf(at, "%s: environment variable %s is not set", envKey, name)
	case strings.TrimSpace(v) == "":
		return Errorf(at, "%s: environment variable %s is empty", envKey, name)
	}
	*inline = commoncfg.Secret(strings.TrimSpace(v))
	return nil
}

// checkUnexpanded refuses an inline value holding a ${...} reference or
// made of a $NAME one: it would be sent as the key itself.
func checkUnexpanded(at *yaml.Node, key, value string) error {
	if m := wholeRefRE.FindStringSubmatch(value); m != nil {
		name := m[1] + m[2]
		return Errorf(at, "%s is %q, which is not expanded: to read the environment variable, write %s%s: %s instead",
			key, value, key, EnvSuffix, name)
	}
	if strings.Contains(value, "${") {
		return Errorf(at, "%s holds ${...}, which is not expanded: put the whole value in an environment variable and name it with %s%s",
			key, key, EnvSuffix)
	}
	return nil
}

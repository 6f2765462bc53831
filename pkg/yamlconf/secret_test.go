package yamlconf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// secretConfig holds one secret setting, token, the way integrations do.
type secretConfig struct {
	Token     commoncfg.Secret `yaml:"token"`
	TokenFile string           `yaml:"token_file"`
	TokenEnv  string           `yaml:"token_env"`
}

func (c *secretConfig) UnmarshalYAML(node *yaml.Node) error {
	type plain secretConfig
	if err := DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	return ResolveSecret(node, "token", &c.Token, c.TokenFile, c.TokenEnv)
}

type secretFile struct {
	Channel secretConfig `yaml:"channel"`
}

const envSecret = "env-s3cret-value"

func TestResolveSecret(t *testing.T) {
	t.Setenv("KLAXON_TEST_TOKEN", "  "+envSecret+"\n")
	t.Setenv("KLAXON_TEST_EMPTY", " ")
	for _, tc := range []struct {
		name, in, want string
		token          commoncfg.Secret
	}{
		{"none", "channel: {}\n", "", ""},
		{"inline", "channel:\n  token: inline-s3cret\n", "", "inline-s3cret"},
		{"env", "channel:\n  token_env: KLAXON_TEST_TOKEN\n", "", envSecret},
		{"file", "channel:\n  token_file: /run/token\n", "", ""},
		{"env unset", "channel:\n  # the variable is not exported\n  token_env: KLAXON_TEST_UNSET\n",
			"x.yml:3: token_env: environment variable KLAXON_TEST_UNSET is not set", ""},
		{"env empty", "channel:\n  token_env: KLAXON_TEST_EMPTY\n",
			"x.yml:2: token_env: environment variable KLAXON_TEST_EMPTY is empty", ""},
		{"env not a name", "channel:\n  token_env: ${KLAXON_TEST_TOKEN}\n",
			`x.yml:2: token_env must name an environment variable (letters, digits and '_'), not "${KLAXON_TEST_TOKEN}"`, ""},
		{"inline and env", "channel:\n  token: inline-s3cret\n  token_env: KLAXON_TEST_TOKEN\n",
			"x.yml:3: at most one of token, token_file and token_env may be set", ""},
		{"inline and file", "channel:\n  token: inline-s3cret\n  token_file: /run/token\n",
			"x.yml:3: at most one of token, token_file and token_env may be set", ""},
		{"braced reference", "channel:\n  token: ${KLAXON_TEST_TOKEN}\n",
			`x.yml:2: token is "${KLAXON_TEST_TOKEN}", which is not expanded: to read the environment variable, write token_env: KLAXON_TEST_TOKEN instead`, ""},
		{"bare reference", "channel:\n  token: $KLAXON_TEST_TOKEN\n",
			`x.yml:2: token is "$KLAXON_TEST_TOKEN", which is not expanded: to read the environment variable, write token_env: KLAXON_TEST_TOKEN instead`, ""},
		{"reference inside", "channel:\n  token: https://hooks.example.com/services/${TOKEN}-s3cret\n",
			"x.yml:2: token holds ${...}, which is not expanded: put the whole value in an environment variable and name it with token_env", ""},
		{"dollar in a key", "channel:\n  token: pa$$word-s3cret\n", "", "pa$$word-s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f secretFile
			err := Decode("x.yml", []byte(tc.in), &f)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			for _, secret := range []string{envSecret, "inline-s3cret", "-s3cret"} {
				if strings.Contains(got, secret) {
					t.Errorf("the error quotes a secret: %s", got)
				}
			}
			if err == nil && f.Channel.Token != tc.token {
				t.Errorf("token = %q, want %q", string(f.Channel.Token), string(tc.token))
			}
		})
	}
}

package notify

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

func TestCheckSecret(t *testing.T) {
	t.Setenv("KLAXON_TEST_KEY", " from-env\n")
	node := &yaml.Node{Kind: yaml.MappingNode, Line: 3}
	cases := []struct {
		inline    commoncfg.Secret
		file, env string
		want      string
		resolved  commoncfg.Secret
	}{
		{"", "", "", "yaml: unmarshal errors:\n  line 3: one of api_key, api_key_file and api_key_env is required", ""},
		{"k", "/run/key", "", "yaml: unmarshal errors:\n  line 3: at most one of api_key, api_key_file and api_key_env may be set", "k"},
		{"", "/run/key", "KLAXON_TEST_KEY", "yaml: unmarshal errors:\n  line 3: at most one of api_key, api_key_file and api_key_env may be set", ""},
		{"", "", "KLAXON_TEST_UNSET", "yaml: unmarshal errors:\n  line 3: api_key_env: environment variable KLAXON_TEST_UNSET is not set", ""},
		{"${KLAXON_TEST_KEY}", "", "", "yaml: unmarshal errors:\n  line 3: api_key is \"${KLAXON_TEST_KEY}\", which is not expanded: to read the environment variable, write api_key_env: KLAXON_TEST_KEY instead", "${KLAXON_TEST_KEY}"},
		{"k", "", "", "", "k"},
		{"", "/run/key", "", "", ""},
		{"", "", "KLAXON_TEST_KEY", "", "from-env"},
	}
	for _, c := range cases {
		got, inline := "", c.inline
		if err := CheckSecret(node, "api_key", &inline, c.file, c.env); err != nil {
			got = err.Error()
		}
		if got != c.want || inline != c.resolved {
			t.Errorf("CheckSecret(%q, %q, %q) = %q and key %q, want %q and key %q", c.inline, c.file, c.env, got, inline, c.want, c.resolved)
		}
	}
}

func TestReadSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadSecret("inline", ""); err != nil || got != "inline" {
		t.Errorf("inline: %q, %v", got, err)
	}
	if got, err := ReadSecret("", file); err != nil || got != "from-file" {
		t.Errorf("file: %q, %v; want the trimmed content", got, err)
	}
	if _, err := ReadSecret("", file+".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

func TestRedactKeepsClassification(t *testing.T) {
	err := Redact(&Error{Retry: true, StatusCode: 503, Reason: ReasonServerError, Err: errors.New("key s3cr3t refused")}, "s3cr3t")
	var e *Error
	if !errors.As(err, &e) || !e.Retry || e.StatusCode != 503 || e.Reason != ReasonServerError {
		t.Fatalf("classification lost: %#v", err)
	}
	if got, want := err.Error(), "key <secret> refused"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	plain := errors.New("nothing secret")
	if got := Redact(plain, "s3cr3t"); got != plain {
		t.Errorf("an error without the secret was replaced: %v", got)
	}
	if got := Redact(errors.New("s3cr3t"), ""); got.Error() != "s3cr3t" {
		t.Errorf("an empty secret redacted %q", got)
	}
}

func TestOptionsWithDefaults(t *testing.T) {
	o, err := Options{}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Template == nil || o.Client == nil || o.Logger == nil {
		t.Errorf("defaults missing: %+v", o)
	}
	tmpl := o.Template
	kept, err := Options{Template: tmpl}.WithDefaults()
	if err != nil || kept.Template != tmpl {
		t.Errorf("a given template was replaced: %v", err)
	}
}

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
	node := &yaml.Node{Kind: yaml.MappingNode, Line: 3}
	cases := []struct {
		inline commoncfg.Secret
		file   string
		want   string
	}{
		{"", "", "yaml: unmarshal errors:\n  line 3: one of api_key and api_key_file is required"},
		{"k", "/run/key", "yaml: unmarshal errors:\n  line 3: at most one of api_key and api_key_file may be set"},
		{"k", "", ""},
		{"", "/run/key", ""},
	}
	for _, c := range cases {
		got := ""
		if err := CheckSecret(node, "api_key", c.inline, c.file); err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("CheckSecret(%q, %q) = %q, want %q", c.inline, c.file, got, c.want)
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

package acklink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// global stands for the receiver's global section, which inlines
// KeyConfig and calls Check.
type global struct {
	ExternalURL string    `yaml:"external_url"`
	Ack         KeyConfig `yaml:",inline"`
}

func (g *global) UnmarshalYAML(node *yaml.Node) error {
	type plain global
	if err := yamlconf.DecodeNode(node, (*plain)(g)); err != nil {
		return err
	}
	return g.Ack.Check(node)
}

type file struct {
	Global global `yaml:"global"`
}

const longSecret = "s3cret-s3cret-s3cret-s3cret-s3cret"

func TestKeyConfigErrors(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"both", `
global:
  ack_secret: ` + longSecret + `
  ack_secret_file: key
`, "receiver.yml:4: at most one of ack_secret, ack_secret_file and ack_secret_env may be set"},
		{"short", `
global:
  external_url: https://klaxon.example.com/
  ack_secret: short-secret
`, "receiver.yml:4: ack_secret must be at least 32 bytes, it has 12"},
		{"unknown key", `
global:
  ack_key: x
`, `receiver.yml:3: unknown key "ack_key" (known keys: ack_secret, ack_secret_env, ack_secret_file, external_url)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f file
			err := yamlconf.Decode("receiver.yml", []byte(tt.in), &f)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.err {
				t.Errorf("error:\n got %s\nwant %s", err, tt.err)
			}
			if strings.Contains(err.Error(), "short-secret") || strings.Contains(err.Error(), longSecret) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

func TestKeyConfigKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("good", "\n  "+longSecret+"\n")
	write("short", "short-secret\n")
	configFile := filepath.Join(dir, "receiver.yml")
	tests := []struct {
		name string
		conf KeyConfig
		key  string
		err  string
	}{
		{"inline", KeyConfig{Secret: longSecret}, longSecret, ""},
		{"file, trimmed", KeyConfig{SecretFile: "good"}, longSecret, ""},
		{"none", KeyConfig{}, "", "none of ack_secret, ack_secret_file and ack_secret_env is set"},
		{"short file", KeyConfig{SecretFile: "short"}, "", "ack_secret_file " + filepath.Join(dir, "short") + " must hold at least 32 bytes, it has 12"},
		{"missing file", KeyConfig{SecretFile: "missing"}, "", "reading ack_secret_file: open " + filepath.Join(dir, "missing") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.conf.ResolvePaths(configFile)
			key, err := tt.conf.Key()
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				if strings.Contains(err.Error(), "short-secret") {
					t.Errorf("error %q quotes the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(key) != tt.key {
				t.Errorf("key = %q, want %q", key, tt.key)
			}
		})
	}
}

// The secret never appears when the config is written back out.
func TestKeyConfigMarshalHidesSecret(t *testing.T) {
	var f file
	in := "global:\n  ack_secret: " + longSecret + "\n"
	if err := yamlconf.Decode("receiver.yml", []byte(in), &f); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), longSecret) || !strings.Contains(string(out), "ack_secret: <secret>") {
		t.Errorf("marshalled config:\n%s", out)
	}
}

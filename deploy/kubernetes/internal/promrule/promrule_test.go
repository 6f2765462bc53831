package promrule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxonhq/klaxon/deploy/kubernetes/internal/promrule"
)

func TestObjectName(t *testing.T) {
	for file, want := range map[string]string{
		"klaxon.rules.yml":        "klaxon-rules",
		"node-exporter.rules.yml": "klaxon-node-exporter-rules",
		"alerts.yml":              "klaxon-alerts",
		"klaxon-extra.yml":        "klaxon-extra",
	} {
		if got := promrule.ObjectName(file); got != want {
			t.Errorf("ObjectName(%q) = %q, want %q", file, got, want)
		}
	}
}

func TestGenerateRefusesUnknownRuleFields(t *testing.T) {
	dir := t.TempDir()
	bad := "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        fro: 5m\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.yml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := promrule.Generate(dir, "rules")
	if err == nil || !strings.Contains(err.Error(), "bad.yml") || !strings.Contains(err.Error(), `unknown field "fro"`) {
		t.Errorf("Generate of a rule with fro: %v, want the file and the unknown field", err)
	}
}

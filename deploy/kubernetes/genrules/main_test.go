package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klaxonhq/klaxon/deploy/kubernetes/internal/promrule"
)

// TestRunReplacesTheManifests: run writes one manifest per rule file and
// removes the generated manifests whose rule file is gone, leaving other
// files; a
// run that fails removes nothing.
func TestRunReplacesTheManifests(t *testing.T) {
	rules, out := t.TempDir(), t.TempDir()
	rule := "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 5m\n"
	for path, data := range map[string]string{
		filepath.Join(rules, "alerts.yml"):          rule,
		filepath.Join(out, "klaxon-old-rules.yaml"): promrule.Header + "rules/old.rules.yml; DO NOT EDIT.\n",
		filepath.Join(out, "extra.yaml"):            "# written by hand\n",
		filepath.Join(out, "notes.txt"):             "kept",
	} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(rules, out); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"extra.yaml", "klaxon-alerts.yaml", "notes.txt"}; !slices.Equal(names, want) {
		t.Errorf("after run: %v, want %v", names, want)
	}
	if err := run(filepath.Join(rules, "missing"), out); err == nil {
		t.Error("run with no rule files: no error")
	}
	if _, err := os.Stat(filepath.Join(out, "klaxon-alerts.yaml")); err != nil {
		t.Errorf("a failed run removed a manifest: %v", err)
	}
}

package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klaxonhq/klaxon/deploy/kubernetes/internal/promrule"
)

// TestRunReplacesTheManifests: run writes one manifest per rule file and
// removes the generated directories whose rule file is gone, leaving
// other files; a
// run that fails removes nothing.
func TestRunReplacesTheManifests(t *testing.T) {
	rules, out := t.TempDir(), t.TempDir()
	rule := "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 5m\n"
	for _, dir := range []string{"klaxon-old-rules", "mine"} {
		if err := os.Mkdir(filepath.Join(out, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for path, data := range map[string]string{
		filepath.Join(rules, "alerts.yml"):                             rule,
		filepath.Join(out, "klaxon-old-rules", promrule.Manifest):      promrule.Header + "rules/old.rules.yml; DO NOT EDIT.\n",
		filepath.Join(out, "klaxon-old-rules", promrule.Kustomization): promrule.Header + "rules/old.rules.yml; DO NOT EDIT.\n",
		filepath.Join(out, "mine", promrule.Manifest):                  "# written by hand\n",
		filepath.Join(out, "notes.txt"):                                "kept",
	} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(rules, out); err != nil {
		t.Fatal(err)
	}
	if got, want := files(t, out), []string{"klaxon-alerts/kustomization.yaml", "klaxon-alerts/prometheusrule.yaml", "mine/prometheusrule.yaml", "notes.txt"}; !slices.Equal(got, want) {
		t.Errorf("after run: %v, want %v", got, want)
	}
	if err := run(filepath.Join(rules, "missing"), out); err == nil {
		t.Error("run with no rule files: no error")
	}
	if _, err := os.Stat(filepath.Join(out, "klaxon-alerts", promrule.Manifest)); err != nil {
		t.Errorf("a failed run removed a manifest: %v", err)
	}
}

// files lists the files under dir, slash-separated and sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

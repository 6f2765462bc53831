// Command genrules writes the PrometheusRule manifests of
// deploy/kubernetes from the rule files in rules/ (make kubernetes-rules).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klaxonhq/klaxon/deploy/kubernetes/internal/promrule"
)

func main() {
	rulesDir := flag.String("rules", "rules", "Directory of the Prometheus rule files.")
	outDir := flag.String("out", "deploy/kubernetes/rules", "Directory the PrometheusRule kustomizations are written to, one directory each.")
	flag.Parse()
	if err := run(*rulesDir, *outDir); err != nil {
		fmt.Fprintln(os.Stderr, "genrules:", err)
		os.Exit(1)
	}
}

// run writes every generated directory and removes the generated ones
// (by their header) whose rule file is gone.
func run(rulesDir, outDir string) error {
	files, err := promrule.Generate(rulesDir, filepath.Base(rulesDir))
	if err != nil {
		return err
	}
	if err := removeStale(outDir, files); err != nil {
		return err
	}
	for name, data := range files {
		path := filepath.Join(outDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// removeStale removes the generated files of the directories files has no
// manifest for, and the directories once empty.
func removeStale(outDir string, files map[string][]byte) error {
	old, err := filepath.Glob(filepath.Join(outDir, "*", promrule.Manifest))
	if err != nil {
		return err
	}
	for _, manifest := range old {
		dir := filepath.Dir(manifest)
		if _, ok := files[filepath.Base(dir)+"/"+promrule.Manifest]; ok {
			continue
		}
		for _, name := range []string{promrule.Manifest, promrule.Kustomization} {
			path := filepath.Join(dir, name)
			data, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if !bytes.HasPrefix(data, []byte(promrule.Header)) {
				continue
			}
			if err := os.Remove(path); err != nil {
				return err
			}
		}
		if entries, err := os.ReadDir(dir); err == nil && len(entries) == 0 {
			if err := os.Remove(dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// Command genrules writes the PrometheusRule manifests of
// deploy/kubernetes from the rule files in rules/ (make kubernetes-rules).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/klaxonhq/klaxon/deploy/kubernetes/internal/promrule"
)

func main() {
	rulesDir := flag.String("rules", "rules", "Directory of the Prometheus rule files.")
	outDir := flag.String("out", "deploy/kubernetes/overlays/prometheus-operator/rules", "Directory the PrometheusRule manifests are written to.")
	flag.Parse()
	if err := run(*rulesDir, *outDir); err != nil {
		fmt.Fprintln(os.Stderr, "genrules:", err)
		os.Exit(1)
	}
}

// run writes every manifest and removes the generated ones (by their
// header) whose rule file is gone.
func run(rulesDir, outDir string) error {
	files, err := promrule.Generate(rulesDir, filepath.Base(rulesDir))
	if err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(outDir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, path := range old {
		if _, ok := files[filepath.Base(path)]; ok {
			continue
		}
		data, err := os.ReadFile(path)
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
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(outDir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

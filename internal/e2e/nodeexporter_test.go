package e2e

import (
	"fmt"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// TestHostsDashboardNodeExporter checks the host dashboard with the other
// source layer: the Debian node_exporter scraped by a Prometheus that loads
// rules/node-exporter.rules.yml instead of klaxon.rules.yml (scaled as in
// TestPipeline). Every panel's query must return data, as it does with
// klaxon-exporter in TestPipeline. No alert fires here: TestPipeline
// checks the annotation of firing alerts.
func TestHostsDashboardNodeExporter(t *testing.T) {
	promBin := testenv.Program(t, "prometheus")
	nodeBin := testenv.Program(t, "prometheus-node-exporter")
	dir := t.TempDir()

	nodeAddr := testenv.FreeAddr(t)
	node := testenv.StartProcess(t, "", nodeBin, "--web.listen-address="+nodeAddr,
		"--collector.disable-defaults", "--collector.cpu", "--collector.meminfo", "--collector.filesystem")
	node.WaitReady(t, "http://"+nodeAddr+"/metrics", startTimeout)

	rules := filepath.Join(dir, "node-exporter.rules.yml")
	if err := testenv.ScaleRuleFile(filepath.Join(testenv.RepoRoot(t), "rules", "node-exporter.rules.yml"), rules, timeScale); err != nil {
		t.Fatal(err)
	}
	conf, err := yaml.Marshal(map[string]any{
		"global":         map[string]string{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
		"rule_files":     []string{rules},
		"scrape_configs": []map[string]any{{"job_name": "node", "static_configs": []map[string][]string{{"targets": {nodeAddr}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	promAddr := testenv.FreeAddr(t)
	prom := testenv.StartProcess(t, dir, promBin, "--config.file="+writeFile(t, filepath.Join(dir, "prometheus.yml"), conf),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
	promURL := "http://" + promAddr
	prom.WaitReady(t, promURL+"/-/ready", startTimeout)

	api := &promAPI{url: promURL}
	for _, q := range []string{
		`instance:host_cpu:utilisation_ratio{job="node"}`,
		`instance:host_memory:utilisation_ratio{job="node"}`,
		`instance_mountpoint:host_filesystem:utilisation_ratio{job="node"}`,
	} {
		testenv.Eventually(t, startTimeout, func() error {
			n, err := api.countNow(t.Context(), q)
			if err == nil && n == 0 {
				err = fmt.Errorf("%s: no series yet", q)
			}
			return err
		})
	}
	checkDashboards(t, promURL, dashboardFiles(t, "klaxon-hosts.json"), panelsOnly)
}

package kubernetes_test

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// TestAlertmanagerConfig: the Kubernetes Alertmanager config is
// deploy/alertmanager/alertmanager.yml with every webhook on the
// receiver's Service, and amtool accepts it.
func TestAlertmanagerConfig(t *testing.T) {
	base := render(t, "base")
	var svc *corev1.Service
	for _, s := range each[*corev1.Service](base) {
		if s.Name == "klaxon-receiver" {
			svc = s
		}
	}
	if svc == nil || len(svc.Spec.Ports) != 1 {
		t.Fatal("base: no Service klaxon-receiver with one port")
	}
	host := fmt.Sprintf("%s.%s.svc:%d", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port)

	k8s := webhookPaths(t, amSnippet, host)
	orig := webhookPaths(t, filepath.Join(testenv.RepoRoot(t), "deploy", "alertmanager", "alertmanager.yml"), "127.0.0.1:9848")
	if diff := cmp.Diff(orig, k8s); diff != "" {
		t.Errorf("%s differs from deploy/alertmanager/alertmanager.yml other than in the webhooks' host (-deploy/alertmanager +kubernetes):\n%s", amSnippet, diff)
	}

	amtool := testenv.Program(t, "amtool")
	out, err := exec.CommandContext(t.Context(), amtool, "check-config", amSnippet).CombinedOutput()
	if err != nil {
		t.Errorf("amtool check-config %s: %v\n%s", amSnippet, err, out)
	}
}

// webhookPaths reads an Alertmanager config, checks that every webhook
// URL is on host, and returns the config with each URL cut to its path.
func webhookPaths(t *testing.T, path, host string) map[string]any {
	t.Helper()
	doc := readYAML(t, path)
	for _, u := range webhookURLs(t, doc) {
		parsed, err := url.Parse(u.url)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if parsed.Host != host {
			t.Errorf("%s: webhook %s is not on %s", path, u.url, host)
		}
		u.config["url"] = parsed.Path
	}
	return doc
}

type webhook struct {
	url    string
	config map[string]any
}

func webhookURLs(t *testing.T, doc map[string]any) []webhook {
	t.Helper()
	var hooks []webhook
	receivers, _ := doc["receivers"].([]any)
	for _, r := range receivers {
		configs, _ := r.(map[string]any)["webhook_configs"].([]any)
		for _, c := range configs {
			m := c.(map[string]any)
			s, ok := m["url"].(string)
			if !ok {
				t.Fatalf("webhook config without url: %v", m)
			}
			hooks = append(hooks, webhook{url: s, config: m})
		}
	}
	if len(hooks) == 0 {
		t.Fatal("no webhook_configs")
	}
	return hooks
}

// webhookRoutes is the receiver routes the Kubernetes Alertmanager config
// posts to (/webhook/<route>), sorted.
func webhookRoutes(t *testing.T) []string {
	t.Helper()
	var routes []string
	for _, h := range webhookURLs(t, readYAML(t, amSnippet)) {
		u, err := url.Parse(h.url)
		if err != nil {
			t.Fatal(err)
		}
		route, ok := strings.CutPrefix(u.Path, "/webhook/")
		if !ok {
			t.Errorf("webhook %s is not on /webhook/<route>", h.url)
		}
		routes = append(routes, route)
	}
	sort.Strings(routes)
	return routes
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

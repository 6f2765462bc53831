package kubernetes_test

// The exporter and the receiver, built from the working tree, started
// with the manifests' arguments and config.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
)

// startupWait bounds how long a binary may take to answer /-/ready on a
// loaded machine.
const startupWait = 2 * time.Minute

// podDirs maps each mount path of c to a fresh directory standing in for
// it.
func podDirs(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	root := t.TempDir()
	dirs := map[string]string{}
	for _, m := range c.VolumeMounts {
		dirs[m.MountPath] = filepath.Join(root, m.Name)
		if err := os.MkdirAll(dirs[m.MountPath], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dirs
}

// localPaths rewrites the pod's paths in s to the test's directories, in
// one pass: a directory may well lie under /tmp, which is also a mount.
func localPaths(s string, dirs map[string]string) string {
	mounts := make([]string, 0, len(dirs))
	for m := range dirs {
		mounts = append(mounts, m)
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	var pairs []string
	for _, m := range mounts {
		pairs = append(pairs, m+"/", dirs[m]+"/")
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// receiverPod is the receiver's pod laid out in temporary directories.
type receiverPod struct {
	// args are the container's, with the pod's paths rewritten.
	args []string
	// dirs maps each mount path to its directory.
	dirs map[string]string
	// claim is the mount path of the StatefulSet's volumeClaimTemplate;
	// empty for a Deployment, which has none.
	claim string
}

// layOutReceiver puts the ConfigMap's files of r under the config mount's
// directory and, for each Secret the pod mounts, the keys secrets lists
// for it (fake values) under its mount's directory.
func layOutReceiver(t *testing.T, r rendered, secrets map[string][]string) receiverPod {
	t.Helper()
	template, ha := receiverTemplate(t, r)
	cm := only[*corev1.ConfigMap](t, r)
	spec := template.Spec
	c := spec.Containers[0]
	pod := receiverPod{dirs: podDirs(t, c)}
	mountOf := func(volume string) string {
		i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == volume })
		if i < 0 {
			t.Fatalf("receiver: volume %s is not mounted", volume)
		}
		return c.VolumeMounts[i].MountPath
	}
	for _, v := range spec.Volumes {
		dir := pod.dirs[mountOf(v.Name)]
		switch {
		case v.ConfigMap != nil:
			if v.ConfigMap.Name != cm.Name {
				t.Fatalf("receiver mounts ConfigMap %s, the kustomization makes %s", v.ConfigMap.Name, cm.Name)
			}
			for name, data := range cm.Data {
				writeFile(t, filepath.Join(dir, name), localPaths(data, pod.dirs))
			}
		case v.Secret != nil:
			for _, key := range secrets[v.Secret.SecretName] {
				writeFile(t, filepath.Join(dir, key), "https://test.invalid/"+strings.Repeat("k", 48))
			}
		}
	}
	if !ha {
		ss := only[*appsv1.StatefulSet](t, r)
		if len(ss.Spec.VolumeClaimTemplates) != 1 {
			t.Fatalf("receiver: %d volumeClaimTemplates, want 1", len(ss.Spec.VolumeClaimTemplates))
		}
		pod.claim = mountOf(ss.Spec.VolumeClaimTemplates[0].Name)
	}
	for _, a := range c.Args {
		pod.args = append(pod.args, localPaths(a, pod.dirs))
	}
	return pod
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReceiverConfig: the ConfigMap's config passes the receiver's own
// validation, its routes are the ones the Alertmanager config posts to,
// and the receiver serves with the StatefulSet's arguments and records an
// incident for a critical alert, as the README promises.
func TestReceiverConfig(t *testing.T) {
	pod := layOutReceiver(t, render(t, "base"), map[string][]string{secretName: secretKeys})
	args := pod.args
	configFile := flagValues(args)["--config.file"]
	if configFile == "" {
		t.Fatalf("receiver args %v: no --config.file", args)
	}
	rt, err := receiverconfig.Load(configFile, promslog.NewNopLogger())
	if err != nil {
		t.Fatalf("the ConfigMap's config: %v", err)
	}
	if err := receiverconfig.CheckSecretFiles(configFile); err != nil {
		t.Fatalf("the ConfigMap's config: %v", err)
	}
	if store := rt.Config.Storage.Path; !strings.HasPrefix(store, pod.dirs[pod.claim]+"/") {
		t.Fatalf("the store %s is not on the volume claim (%s): it would be lost with the pod", store, pod.claim)
	}
	var routes []string
	for _, r := range rt.Config.Routes {
		routes = append(routes, r.Name)
	}
	sort.Strings(routes)
	if got := webhookRoutes(t); !slices.Equal(got, routes) {
		t.Errorf("Alertmanager posts to routes %v, the receiver's config has %v", got, routes)
	}

	bin := testenv.Binary(t, "klaxon-receiver")
	addr := testenv.FreeAddr(t)
	args = append(slices.DeleteFunc(args, func(a string) bool { return strings.HasPrefix(a, "--web.listen-address=") }), "--web.listen-address="+addr)
	p := testenv.StartProcess(t, "", bin, args...)
	p.WaitReady(t, "http://"+addr+"/-/ready", startupWait)
	p.WaitReady(t, "http://"+addr+"/-/healthy", startupWait)

	sample, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "pkg", "alert", "testdata", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := httpDo(t, http.MethodPost, "http://"+addr+"/webhook/critical", sample); code != http.StatusOK {
		t.Fatalf("POST /webhook/critical: %d %s, want 200", code, body)
	}
	code, body := httpDo(t, http.MethodGet, "http://"+addr+"/api/v1/incidents", nil)
	var list struct {
		Incidents []incident.Summary `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil {
		t.Fatalf("GET /api/v1/incidents: %d %s (%v)", code, body, err)
	}
	if len(list.Incidents) != 1 || list.Incidents[0].Route != "critical" || list.Incidents[0].Policy != "default" {
		t.Errorf("after a critical alert, GET /api/v1/incidents lists %s; want one incident on route critical, policy default: the base config records no incidents", body)
	}
}

// httpDo sends body (JSON, or nothing when nil) and returns the answer's
// status and body.
func httpDo(t *testing.T, method, url string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}

// TestExporterArgs: the exporter starts with the DaemonSet's arguments,
// its mounts replaced by the host paths they mount, and serves host
// metrics.
func TestExporterArgs(t *testing.T) {
	ds := only[*appsv1.DaemonSet](t, render(t, "base"))
	c := ds.Spec.Template.Spec.Containers[0]
	hostPaths := hostPathMounts(t, ds.Spec.Template.Spec, c)
	addr := testenv.FreeAddr(t)
	var args []string
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--web.listen-address=") {
			a = "--web.listen-address=" + addr
		}
		if k, v, ok := strings.Cut(a, "="); ok {
			if host, ok := hostPaths[v]; ok {
				a = k + "=" + host
			}
		}
		args = append(args, a)
	}
	bin := testenv.Binary(t, "klaxon-exporter")
	p := testenv.StartProcess(t, "", bin, args...)
	p.WaitReady(t, "http://"+addr+"/-/ready", startupWait)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, metric := range []string{"klaxon_host_load1 ", "klaxon_host_filesystem_"} {
		if !strings.Contains(string(body), metric) {
			t.Errorf("/metrics with the DaemonSet's args has no %s", metric)
		}
	}
}

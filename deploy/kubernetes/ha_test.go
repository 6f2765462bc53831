package kubernetes_test

// The high-availability overlay: the receiver as a Deployment of replicas
// sharing one PostgreSQL store, and the README's overlay that adds it to
// prometheus-operator's.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
)

const (
	haOverlay = "overlays/ha"
	// haReplicas is how many receivers the overlay runs.
	haReplicas = 3
	// postgresSecret holds the DSN as the key postgresKey, mounted as a
	// file under postgresMount.
	postgresSecret = "klaxon-receiver-postgres"
	postgresMount  = "/etc/klaxon/postgres"
	postgresKey    = "DSN"
)

// TestHAOverlay: overlays/ha runs the receiver as a Deployment of 3
// replicas with no volume claim, spread over nodes, ready on /-/ready,
// covered by a PodDisruptionBudget, behind the one Service Alertmanager
// posts to, with the DSN Secret mounted as a file that the config's
// storage.postgres.dsn_file reads; that config passes check-config and is
// the base's but for storage.
func TestHAOverlay(t *testing.T) {
	r := render(t, haOverlay)
	if n := len(each[*appsv1.StatefulSet](r)); n != 0 {
		t.Errorf("%s: %d StatefulSets, want none: the receiver is a Deployment", haOverlay, n)
	}
	d := only[*appsv1.Deployment](t, r)
	checkHADeployment(t, d)
	checkPDB(t, r, d)
	checkSameService(t, r, d)
	checkHAConfig(t, r)
}

// checkHADeployment: the replicas, no volume claim or /data, a rollout
// that never goes below the replicas, readiness on /-/ready, the DSN
// Secret as a file, and the replicas spread over nodes.
func checkHADeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	if d.Name != "klaxon-receiver" {
		t.Errorf("the receiver's Deployment is %s, want klaxon-receiver", d.Name)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != haReplicas {
		t.Errorf("receiver: replicas %v, want %d", d.Spec.Replicas, haReplicas)
	}
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			t.Errorf("receiver: volume %s is a claim; the replicas keep no state of their own", v.Name)
		}
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/data" {
			t.Errorf("receiver: volume %s is still mounted at /data, SQLite's place", m.Name)
		}
	}
	if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" {
		t.Errorf("receiver: strategy %+v, want a rolling update with maxUnavailable 0", d.Spec.Strategy)
	}
	for _, p := range checkProbe("readinessProbe", c.ReadinessProbe, "/-/ready", c.Ports) {
		t.Errorf("receiver: %s", p)
	}
	checkSecretMount(t, spec, postgresSecret, postgresMount, "the receiver cannot open its store without the DSN")
	if !spreadOverNodes(spec, d.Spec.Template.Labels) {
		t.Errorf("receiver: neither a topology spread constraint (DoNotSchedule) nor a required pod anti-affinity on kubernetes.io/hostname for its own pods: %+v %+v",
			spec.TopologySpreadConstraints, spec.Affinity)
	}
}

// spreadOverNodes says whether spec keeps pods with labels off a node
// that already has more of them than another (a hard topology spread
// constraint on the hostname) or off a node that has one (a required pod
// anti-affinity).
func spreadOverNodes(spec corev1.PodSpec, labels map[string]string) bool {
	const node = "kubernetes.io/hostname"
	selects := func(ls map[string]string) bool {
		if len(ls) == 0 {
			return false
		}
		for k, v := range ls {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	for _, c := range spec.TopologySpreadConstraints {
		if c.TopologyKey == node && c.WhenUnsatisfiable == corev1.DoNotSchedule && c.MaxSkew == 1 &&
			c.LabelSelector != nil && selects(c.LabelSelector.MatchLabels) {
			return true
		}
	}
	if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == node && term.LabelSelector != nil && selects(term.LabelSelector.MatchLabels) {
				return true
			}
		}
	}
	return false
}

// TestSpreadOverNodesControl: the spread check is not vacuous.
func TestSpreadOverNodesControl(t *testing.T) {
	labels := map[string]string{"app.kubernetes.io/name": "klaxon-receiver"}
	constraint := func(key string, when corev1.UnsatisfiableConstraintAction, sel map[string]string) corev1.PodSpec {
		return corev1.PodSpec{TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: key, WhenUnsatisfiable: when,
			LabelSelector: &metav1.LabelSelector{MatchLabels: sel},
		}}}
	}
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want bool
	}{
		{"none", corev1.PodSpec{}, false},
		{"hostname, hard", constraint("kubernetes.io/hostname", corev1.DoNotSchedule, labels), true},
		{"hostname, soft", constraint("kubernetes.io/hostname", corev1.ScheduleAnyway, labels), false},
		{"zone only", constraint("topology.kubernetes.io/zone", corev1.DoNotSchedule, labels), false},
		{"other pods", constraint("kubernetes.io/hostname", corev1.DoNotSchedule, map[string]string{"app.kubernetes.io/name": "other"}), false},
		{"anti-affinity", corev1.PodSpec{Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
			}},
		}}}, true},
	} {
		if got := spreadOverNodes(tc.spec, labels); got != tc.want {
			t.Errorf("%s: spreadOverNodes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// checkPDB: one PodDisruptionBudget selecting the receiver's pods and no
// other, letting one of them go at a time (maxUnavailable 1, or
// minAvailable one less than the replicas).
func checkPDB(t *testing.T, r rendered, d *appsv1.Deployment) {
	t.Helper()
	pdb := only[*policyv1.PodDisruptionBudget](t, r)
	sel := pdb.Spec.Selector
	if sel == nil || len(sel.MatchLabels) == 0 || len(sel.MatchExpressions) > 0 {
		t.Fatalf("PodDisruptionBudget %s: selector %v, want matchLabels only", pdb.Name, sel)
	}
	for k, v := range sel.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("PodDisruptionBudget %s selects %s=%s, which the receiver's pods do not carry", pdb.Name, k, v)
		}
	}
	for _, ds := range each[*appsv1.DaemonSet](r) {
		if labelsMatch(sel.MatchLabels, ds.Spec.Template.Labels) {
			t.Errorf("PodDisruptionBudget %s also selects DaemonSet %s's pods", pdb.Name, ds.Name)
		}
	}
	one, less := intstr.FromInt32(1), intstr.FromInt32(haReplicas-1)
	switch {
	case pdb.Spec.MaxUnavailable != nil && pdb.Spec.MinAvailable == nil && *pdb.Spec.MaxUnavailable == one:
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MaxUnavailable == nil && *pdb.Spec.MinAvailable == less:
	default:
		t.Errorf("PodDisruptionBudget %s: minAvailable %v, maxUnavailable %v; want maxUnavailable 1 or minAvailable %d",
			pdb.Name, pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable, haReplicas-1)
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkSameService: the Service Alertmanager posts to is the base's,
// unchanged, and selects every replica.
func checkSameService(t *testing.T, r rendered, d *appsv1.Deployment) {
	t.Helper()
	find := func(r rendered) *corev1.Service {
		for _, s := range each[*corev1.Service](r) {
			if s.Name == "klaxon-receiver" {
				return s
			}
		}
		t.Fatalf("%s: no Service klaxon-receiver", r.dir)
		return nil
	}
	base, ha := find(render(t, "base")), find(r)
	if diff := cmp.Diff(base, ha); diff != "" {
		t.Errorf("%s changes the Service Alertmanager posts to (-base +ha):\n%s", r.dir, diff)
	}
	if !labelsMatch(ha.Spec.Selector, d.Spec.Template.Labels) || len(ha.Spec.Selector) == 0 {
		t.Errorf("Service %s selects %v, which the Deployment's pods (%v) do not carry", ha.Name, ha.Spec.Selector, d.Spec.Template.Labels)
	}
}

// checkHAConfig: with the Secrets' files in place, the ConfigMap's config
// passes check-config (the receiver's own validation and secret files,
// and the built binary's command), keeps the store in PostgreSQL through
// the DSN Secret's file, and is the base's config but for storage;
// without the DSN file, check-config fails naming dsn_file.
func checkHAConfig(t *testing.T, r rendered) {
	t.Helper()
	pod := layOutReceiver(t, r, map[string][]string{secretName: secretKeys, postgresSecret: {postgresKey}})
	configFile := flagValues(pod.args)["--config.file"]
	if configFile == "" {
		t.Fatalf("receiver args %v: no --config.file", pod.args)
	}
	rt, err := receiverconfig.Load(configFile, promslog.NewNopLogger())
	if err == nil {
		err = receiverconfig.CheckSecretFiles(configFile)
	}
	if err != nil {
		t.Fatalf("check-config of %s's config, with the Secrets' files: %v", r.dir, err)
	}
	dsn := filepath.Join(pod.dirs[postgresMount], postgresKey)
	pg := rt.Config.Storage.Postgres
	if pg == nil || pg.DSNFile != dsn || pg.DSN != "" || pg.DSNEnv != "" {
		t.Errorf("%s's config: storage.postgres %+v, want dsn_file %s/%s (the Secret %s's key %s)", r.dir, pg, postgresMount, postgresKey, postgresSecret, postgresKey)
	}
	if pg != nil && pg.MaxConns < 1 {
		t.Errorf("%s's config: storage.postgres.max_conns %d", r.dir, pg.MaxConns)
	}

	bin := testenv.Binary(t, "klaxon-receiver")
	out, err := exec.CommandContext(t.Context(), bin, "check-config", "--config.file="+configFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), configFile+": OK") {
		t.Errorf("klaxon-receiver check-config --config.file=%s: %v\n%s", configFile, err, out)
	}

	checkOnlyStorageDiffers(t, only[*corev1.ConfigMap](t, r), only[*corev1.ConfigMap](t, render(t, "base")))

	if err := os.Remove(dsn); err != nil {
		t.Fatal(err)
	}
	err = receiverconfig.CheckSecretFiles(configFile)
	if want := "dsn_file: open " + dsn + ": no such file or directory"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("check-config without the Secret %s's %s: %v, want ...%s", postgresSecret, postgresKey, err, want)
	}
}

// checkOnlyStorageDiffers: the high-availability config is the base's
// with another storage section, so that the two do not drift apart.
func checkOnlyStorageDiffers(t *testing.T, ha, base *corev1.ConfigMap) {
	t.Helper()
	const file = "klaxon-receiver.yml"
	parse := func(cm *corev1.ConfigMap) map[string]any {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(cm.Data[file]), &doc); err != nil {
			t.Fatalf("ConfigMap %s: %s: %v", cm.Name, file, err)
		}
		if _, ok := doc["storage"]; !ok {
			t.Errorf("ConfigMap %s: %s has no storage section", cm.Name, file)
		}
		delete(doc, "storage")
		return doc
	}
	if diff := cmp.Diff(parse(base), parse(ha)); diff != "" {
		t.Errorf("%s/%s differs from base/%s in more than storage (-base +ha):\n%s", haOverlay, file, file, diff)
	}
	if ha.Name == base.Name {
		t.Errorf("the high-availability ConfigMap keeps the base's name %s", ha.Name)
	}
}

// TestHAUserOverlay builds the overlay README.md shows under "High
// availability": prometheus-operator's with the receiver-ha component and
// a copy of overlays/ha's config. The receiver is the Deployment running
// that config, and the ServiceMonitors, the PrometheusRules and the
// PodDisruptionBudget are all there.
func TestHAUserOverlay(t *testing.T) {
	dir := t.TempDir()
	files := readmeFiles(t, "my-klaxon-ha", dir)
	if files["kustomization.yaml"] == "" {
		t.Fatal("README.md has no yaml block starting with # my-klaxon-ha/kustomization.yaml")
	}
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	// The README has the reader copy the overlay's config and add channels.
	config, err := os.ReadFile(filepath.Join(haOverlay, "klaxon-receiver.yml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "klaxon-receiver.yml"), string(config))
	r := render(t, dir)
	if n := len(each[*appsv1.StatefulSet](r)); n != 0 {
		t.Errorf("%d StatefulSets, want none: the receiver is a Deployment", n)
	}
	if cm := only[*corev1.ConfigMap](t, r); cm.Data["klaxon-receiver.yml"] != string(config) {
		t.Errorf("the README's my-klaxon-ha/kustomization.yaml does not replace the config with its klaxon-receiver.yml")
	}
	d := only[*appsv1.Deployment](t, r)
	checkHADeployment(t, d)
	checkPDB(t, r, d)
	checkMonitors(t, r)
	checkRules(t, r, "klaxon-rules")
	checkNetworkPolicy(t, r)
	checkNamespace(t, r)
	checkHAConfig(t, r)
}

// readmeFiles are README.md's yaml blocks whose first line is
// "# <dir>/<file>", keyed by file, with every "../deploy/kubernetes/" in
// them made relative to to.
func readmeFiles(t *testing.T, dir, to string) map[string]string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	// Kustomize takes relative paths only.
	rel, err := filepath.Rel(to, here)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		block = dedent(block)
		first, _, _ := strings.Cut(block, "\n")
		name, ok := strings.CutPrefix(first, "# "+dir+"/")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		files[strings.TrimSuffix(name, ":")] = strings.ReplaceAll(block, "../deploy/kubernetes/", rel+"/")
	}
	return files
}

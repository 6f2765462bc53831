// Tests of the Kubernetes manifests: every kustomization renders, every
// object decodes strictly into its Kubernetes or prometheus-operator type,
// the workloads follow the security and probe policy, the receiver's
// config loads, the exporter and the receiver start with the manifests'
// arguments, the Alertmanager config matches deploy/alertmanager's, and
// the PrometheusRules are those make kubernetes-rules writes.
package kubernetes_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/promslog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/klaxonhq/klaxon/deploy/kubernetes/internal/promrule"
	"github.com/klaxonhq/klaxon/internal/testenv"
	slacknotify "github.com/klaxonhq/klaxon/pkg/notify/slack"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
)

const (
	rulesDir  = "rules"
	amSnippet = "alertmanager/alertmanager.yaml"
)

// rendered is one kustomization's output, decoded.
type rendered struct {
	dir     string
	objects []any
}

// kustomizations is base and every overlay.
func kustomizations(t *testing.T) []string {
	t.Helper()
	overlays, err := filepath.Glob("overlays/*/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(overlays) == 0 {
		t.Fatal("no overlays/*/kustomization.yaml")
	}
	dirs := []string{"base"}
	for _, o := range overlays {
		dirs = append(dirs, filepath.Dir(o))
	}
	return dirs
}

// render builds dir with the kustomize API and decodes each object.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	r := rendered{dir: dir}
	for _, doc := range build(t, dir) {
		obj, err := decode(doc.kind, doc.data)
		if err != nil {
			t.Errorf("%s: %s %s: %v", dir, doc.kind, doc.name, err)
			continue
		}
		r.objects = append(r.objects, obj)
	}
	return r
}

// document is one object of a kustomize build, as YAML.
type document struct {
	kind, name string
	data       []byte
}

func build(t *testing.T, dir string) []document {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var docs []document
	for _, res := range res.Resources() {
		data, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, document{kind: res.GetKind(), name: res.GetName(), data: data})
	}
	return docs
}

// TestKubectlKustomize: kubectl's own kustomize, which kubectl apply -k
// runs, builds the same objects as the kustomize API the tests use (in
// another order: kubectl sorts them by kind). A kubectl whose kustomize is
// older than v5, such as Debian's kubernetes-client 1.20, is missing.
func TestKubectlKustomize(t *testing.T) {
	kubectl := testenv.Program(t, "kubectl")
	version, err := exec.CommandContext(t.Context(), kubectl, "version", "--client", "-o", "json").Output()
	if err != nil {
		t.Fatalf("kubectl version --client -o json: %v", err)
	}
	if err := checkKustomizeVersion(version); err != nil {
		testenv.Missing(t, "%v", err)
	}
	for _, dir := range kustomizations(t) {
		out, err := exec.CommandContext(t.Context(), kubectl, "kustomize", dir).Output()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		var want []string
		for _, doc := range build(t, dir) {
			want = append(want, string(doc.data))
		}
		got := strings.Split(strings.TrimSpace(string(out)), "\n---\n")
		for i := range got {
			got[i] = strings.TrimSpace(got[i]) + "\n"
		}
		sort.Strings(want)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("kubectl kustomize %s differs from the kustomize API's build (-API +kubectl):\n%s", dir, diff)
		}
	}
}

// minKustomizeMajor is the oldest kustomize that kubectl may bring: the
// kustomizations use components: and labels:, which kustomize v2 (kubectl
// 1.20) does not know, and are tested with kustomize v5 only.
const minKustomizeMajor = 5

// checkKustomizeVersion reads the output of kubectl version --client -o
// json and says why its kustomize will not do: older than v5, or no
// version reported (kubectl before 1.24).
func checkKustomizeVersion(versionJSON []byte) error {
	var v struct {
		ClientVersion struct {
			GitVersion string `json:"gitVersion"`
		} `json:"clientVersion"`
		KustomizeVersion string `json:"kustomizeVersion"`
	}
	if err := json.Unmarshal(versionJSON, &v); err != nil {
		return fmt.Errorf("kubectl version --client -o json: %w", err)
	}
	version := v.KustomizeVersion
	if version == "" {
		version = "(not reported by kubectl " + v.ClientVersion.GitVersion + ")"
	}
	majorText, _, _ := strings.Cut(strings.TrimPrefix(v.KustomizeVersion, "v"), ".")
	if major, err := strconv.Atoi(majorText); err != nil || major < minKustomizeMajor {
		return fmt.Errorf("kubectl's kustomize %s is too old: deploy/kubernetes needs kustomize v%d (kubectl 1.27 or later)", version, minKustomizeMajor)
	}
	return nil
}

// TestKustomizeVersionGate: kubectl 1.32's kustomize v5.5.0 will do;
// kubectl 1.26's v4.5.7 and Debian's kubectl 1.20, which reports none,
// will not, and the message says what is needed.
func TestKustomizeVersionGate(t *testing.T) {
	for _, tc := range []struct{ output, want string }{
		{`{"clientVersion":{"major":"1","minor":"32","gitVersion":"v1.32.4"},"kustomizeVersion":"v5.5.0"}`, ""},
		{`{"clientVersion":{"major":"1","minor":"26","gitVersion":"v1.26.15"},"kustomizeVersion":"v4.5.7"}`,
			"kubectl's kustomize v4.5.7 is too old: deploy/kubernetes needs kustomize v5 (kubectl 1.27 or later)"},
		{`{"clientVersion":{"major":"1","minor":"20","gitVersion":"v1.20.5"}}`,
			"kubectl's kustomize (not reported by kubectl v1.20.5) is too old: deploy/kubernetes needs kustomize v5 (kubectl 1.27 or later)"},
		{`Client Version: v1.20.5`, "kubectl version --client -o json: invalid character 'C' looking for beginning of value"},
	} {
		got := ""
		if err := checkKustomizeVersion([]byte(tc.output)); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("checkKustomizeVersion(%s) = %q, want %q", tc.output, got, tc.want)
		}
	}
}

// decode unmarshals one manifest into the type of its kind; a field the
// type does not have, in any spelling but its own, or a key given twice is
// an error.
func decode(kind string, data []byte) (any, error) {
	var obj any
	switch kind {
	case "Namespace":
		obj = &corev1.Namespace{}
	case "ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "ConfigMap":
		obj = &corev1.ConfigMap{}
	case "Service":
		obj = &corev1.Service{}
	case "DaemonSet":
		obj = &appsv1.DaemonSet{}
	case "StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "NetworkPolicy":
		obj = &networkingv1.NetworkPolicy{}
	case "Role":
		obj = &rbacv1.Role{}
	case "RoleBinding":
		obj = &rbacv1.RoleBinding{}
	case monitoringv1.ServiceMonitorsKind:
		obj = &monitoringv1.ServiceMonitor{}
	case monitoringv1.PrometheusRuleKind:
		obj = &monitoringv1.PrometheusRule{}
	default:
		return nil, fmt.Errorf("no type known for kind %q: add it to decode", kind)
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, err
	}
	// Case-sensitive, as the API server decodes: encoding/json would take
	// hostPid for hostPID.
	strict, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, errors.Join(strict...)
	}
	return obj, nil
}

// only returns the one object of type T in r.
func only[T any](t *testing.T, r rendered) T {
	t.Helper()
	all := each[T](r)
	if len(all) != 1 {
		t.Fatalf("%s: %d objects of type %T, want 1", r.dir, len(all), *new(T))
	}
	return all[0]
}

func each[T any](r rendered) []T {
	var all []T
	for _, o := range r.objects {
		if v, ok := o.(T); ok {
			all = append(all, v)
		}
	}
	return all
}

func TestKustomizationsRender(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			for _, ds := range each[*appsv1.DaemonSet](r) {
				for _, p := range checkPod(ds.Spec.Template.Spec) {
					t.Errorf("DaemonSet %s: %s", ds.Name, p)
				}
				checkExporter(t, ds)
			}
			for _, ss := range each[*appsv1.StatefulSet](r) {
				for _, p := range checkPod(ss.Spec.Template.Spec) {
					t.Errorf("StatefulSet %s: %s", ss.Name, p)
				}
				checkReceiver(t, ss)
			}
			for _, d := range each[*appsv1.Deployment](r) {
				for _, p := range checkPod(d.Spec.Template.Spec) {
					t.Errorf("Deployment %s: %s", d.Name, p)
				}
				checkReceiverPod(t, d.Spec.Template.Spec)
			}
			if got := len(each[*appsv1.DaemonSet](r)) + len(each[*appsv1.StatefulSet](r)) + len(each[*appsv1.Deployment](r)); got != 2 {
				t.Errorf("%d workloads, want the exporter DaemonSet and the receiver's StatefulSet (or Deployment, in high availability)", got)
			}
			checkRuleGroups(t, r)
			checkNetworkPolicy(t, r)
			checkNamespace(t, r)
		})
	}
}

// checkPod returns what a pod template breaks of the policy: non-root,
// RuntimeDefault seccomp, no service account token, and for every container a read-only root
// filesystem, no privilege escalation, no capabilities, CPU and memory
// requests and limits, and liveness and readiness probes on /-/healthy and
// /-/ready.
func checkPod(spec corev1.PodSpec) []string {
	var problems []string
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		problems = append(problems, "pod: runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		problems = append(problems, "pod: seccompProfile is not RuntimeDefault")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		problems = append(problems, "pod: automountServiceAccountToken is not false")
	}
	if len(spec.Containers) == 0 {
		problems = append(problems, "pod: no containers")
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		for _, p := range checkContainer(c) {
			problems = append(problems, "container "+c.Name+": "+p)
		}
	}
	return problems
}

func checkContainer(c corev1.Container) []string {
	var problems []string
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		problems = append(problems, "runAsNonRoot is not true")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		problems = append(problems, "readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		problems = append(problems, "allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		problems = append(problems, "privileged")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		problems = append(problems, "capabilities are not drop [ALL], add none")
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		problems = append(problems, "seccompProfile is not RuntimeDefault")
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[name]; !ok {
			problems = append(problems, "no "+string(name)+" request")
		}
		if _, ok := c.Resources.Limits[name]; !ok {
			problems = append(problems, "no "+string(name)+" limit")
		}
	}
	problems = append(problems, checkProbe("livenessProbe", c.LivenessProbe, "/-/healthy", c.Ports)...)
	problems = append(problems, checkProbe("readinessProbe", c.ReadinessProbe, "/-/ready", c.Ports)...)
	return problems
}

func checkProbe(what string, p *corev1.Probe, path string, ports []corev1.ContainerPort) []string {
	if p == nil || p.HTTPGet == nil {
		return []string{"no HTTP " + what}
	}
	if p.HTTPGet.Path != path {
		return []string{fmt.Sprintf("%s on %s, want %s", what, p.HTTPGet.Path, path)}
	}
	for _, port := range ports {
		if port.Name == p.HTTPGet.Port.String() || port.ContainerPort == p.HTTPGet.Port.IntVal {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s on port %s, which the container does not declare", what, p.HTTPGet.Port.String())}
}

// TestCheckPodReportsEveryGap: the policy check is not vacuous.
func TestCheckPodReportsEveryGap(t *testing.T) {
	got := checkPod(corev1.PodSpec{Containers: []corev1.Container{{Name: "bare"}}})
	want := []string{
		"pod: runAsNonRoot is not true",
		"pod: seccompProfile is not RuntimeDefault",
		"pod: automountServiceAccountToken is not false",
		"container bare: runAsNonRoot is not true",
		"container bare: readOnlyRootFilesystem is not true",
		"container bare: allowPrivilegeEscalation is not false",
		"container bare: capabilities are not drop [ALL], add none",
		"container bare: seccompProfile is not RuntimeDefault",
		"container bare: no cpu request",
		"container bare: no cpu limit",
		"container bare: no memory request",
		"container bare: no memory limit",
		"container bare: no HTTP livenessProbe",
		"container bare: no HTTP readinessProbe",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("checkPod of a bare container (-want +got):\n%s", diff)
	}
}

// checkExporter: the exporter runs on every node in the host's PID and
// network namespaces, mounts the host read-only, and its path flags point
// at those mounts.
func checkExporter(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	spec := ds.Spec.Template.Spec
	if !spec.HostPID || !spec.HostNetwork {
		t.Errorf("exporter: hostPID %v, hostNetwork %v, want both", spec.HostPID, spec.HostNetwork)
	}
	if !slices.ContainsFunc(spec.Tolerations, func(tol corev1.Toleration) bool {
		return tol.Key == "" && tol.Operator == corev1.TolerationOpExists && tol.Effect == ""
	}) {
		t.Error("exporter: no toleration of every taint (operator: Exists, no key): it would miss tainted nodes")
	}
	c := spec.Containers[0]
	if !strings.HasPrefix(c.Image, "ghcr.io/klaxonhq/klaxon-exporter:") {
		t.Errorf("exporter image %q", c.Image)
	}
	hostPaths := hostPathMounts(t, spec, c)
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("exporter: volume %s at %s is not readOnly", m.Name, m.MountPath)
		}
	}
	args := flagValues(c.Args)
	for flag, hostPath := range map[string]string{"--path.rootfs": "/", "--path.sysfs": "/sys"} {
		mount := args[flag]
		if got, ok := hostPaths[mount]; !ok || got != hostPath {
			t.Errorf("exporter: %s=%s is not a mount of the host's %s (mounts: %v)", flag, mount, hostPath, hostPaths)
		}
	}
}

// hostPathMounts maps each of c's mount paths to the host path mounted
// there.
func hostPathMounts(t *testing.T, spec corev1.PodSpec, c corev1.Container) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, vm := range c.VolumeMounts {
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 || spec.Volumes[i].HostPath == nil {
			t.Errorf("volume %s is not a hostPath", vm.Name)
			continue
		}
		m[vm.MountPath] = spec.Volumes[i].HostPath.Path
	}
	return m
}

// flagValues maps --flag=value arguments to their values.
func flagValues(args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			m[k] = v
		}
	}
	return m
}

// secretKeys are the keys of the Secret klaxon-receiver-secrets that the
// README lists, each a file under secretsMount.
var secretKeys = []string{"ACK_SECRET", "PAGERDUTY_INTEGRATION_KEY", "OPSGENIE_API_KEY", "SLACK_WEBHOOK_URL", "DISCORD_WEBHOOK_URL", "WEBHOOK_TOKEN"}

const (
	secretName   = "klaxon-receiver-secrets"
	secretsMount = "/etc/klaxon/secrets"
)

// checkReceiver: one replica, the store on a claim, and the pod as
// checkReceiverPod wants it.
func checkReceiver(t *testing.T, ss *appsv1.StatefulSet) {
	t.Helper()
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 1 {
		t.Error("receiver: replicas is not 1; its SQLite store is single-node")
	}
	c := ss.Spec.Template.Spec.Containers[0]
	if len(ss.Spec.VolumeClaimTemplates) != 1 || !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == ss.Spec.VolumeClaimTemplates[0].Name && m.MountPath == "/data"
	}) {
		t.Error("receiver: /data is not the mount of its volumeClaimTemplate")
	}
	checkReceiverPod(t, ss.Spec.Template.Spec)
}

// checkReceiverPod: the receiver's image, the secrets as files from the
// Secret, and no environment variables, which the receiver would not read
// with a config file.
func checkReceiverPod(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	c := spec.Containers[0]
	if !strings.HasPrefix(c.Image, "ghcr.io/klaxonhq/klaxon-receiver:") {
		t.Errorf("receiver image %q", c.Image)
	}
	if len(c.Env) > 0 || len(c.EnvFrom) > 0 {
		var names []string
		for _, e := range c.Env {
			names = append(names, e.Name)
		}
		t.Errorf("receiver: environment variables %v (and %d envFrom): with --config.file the receiver reads only those a *_env setting names; give secrets as files under %s", names, len(c.EnvFrom), secretsMount)
	}
	checkSecretMount(t, spec, secretName, secretsMount, "ACK_SECRET is required")
}

// checkSecretMount: the Secret name is a volume, not optional (why says
// what the receiver cannot do without it), mounted whole and read-only at
// mount in the receiver's container.
func checkSecretMount(t *testing.T, spec corev1.PodSpec, name, mount, why string) {
	t.Helper()
	c := spec.Containers[0]
	i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool {
		return v.Secret != nil && v.Secret.SecretName == name
	})
	if i < 0 {
		t.Errorf("receiver: no volume of Secret %s", name)
		return
	}
	volume := spec.Volumes[i]
	if volume.Secret.Optional != nil && *volume.Secret.Optional {
		t.Errorf("receiver: Secret %s is optional, but %s", name, why)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == volume.Name && m.MountPath == mount && m.ReadOnly && m.SubPath == ""
	}) {
		t.Errorf("receiver: Secret %s is not mounted whole and read-only at %s", name, mount)
	}
}

// TestSecretKeysDocumented: each /etc/klaxon/secrets/<KEY> that the base
// config (its commented-out channels included) and the README name is a
// key of the README's table of the Secret, and the table lists secretKeys.
func TestSecretKeysDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile("base/klaxon-receiver.yml")
	if err != nil {
		t.Fatal(err)
	}
	var table []string
	for _, m := range regexp.MustCompile("(?m)^ *\\| `([A-Z_]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		table = append(table, m[1])
	}
	if !slices.Equal(table, secretKeys) {
		t.Errorf("README.md's table of the Secret's keys lists %v, want %v", table, secretKeys)
	}
	named := regexp.MustCompile(regexp.QuoteMeta(secretsMount) + "/([A-Za-z0-9_.-]+)")
	for file, data := range map[string][]byte{"base/klaxon-receiver.yml": config, "README.md": readme} {
		for _, m := range named.FindAllStringSubmatch(string(data), -1) {
			if !slices.Contains(secretKeys, m[1]) {
				t.Errorf("%s names %s/%s, which is not a key of the Secret in README.md's table", file, secretsMount, m[1])
			}
		}
	}
}

// checkNetworkPolicy: the receiver takes connections from Alertmanager and
// Prometheus only, on its port, and opens them to DNS and HTTPS only.
func checkNetworkPolicy(t *testing.T, r rendered) {
	t.Helper()
	pod, ha := receiverTemplate(t, r)
	np := only[*networkingv1.NetworkPolicy](t, r)
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("NetworkPolicy %s selects %s=%s, which the receiver's pods do not carry", np.Name, k, v)
		}
	}
	if len(np.Spec.PodSelector.MatchLabels) == 0 {
		t.Errorf("NetworkPolicy %s selects every pod", np.Name)
	}
	if types := np.Spec.PolicyTypes; !slices.Contains(types, networkingv1.PolicyTypeIngress) || !slices.Contains(types, networkingv1.PolicyTypeEgress) {
		t.Errorf("NetworkPolicy %s: policyTypes %v, want Ingress and Egress", np.Name, types)
	}
	var from []string
	for _, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 || len(rule.Ports) == 0 {
			t.Errorf("NetworkPolicy %s: an ingress rule without peers or ports lets in too much", np.Name)
		}
		for _, peer := range rule.From {
			if peer.PodSelector == nil || peer.IPBlock != nil {
				t.Errorf("NetworkPolicy %s: an ingress peer that is not a pod selector: %+v", np.Name, peer)
				continue
			}
			from = append(from, peer.PodSelector.MatchLabels["app.kubernetes.io/name"])
		}
		for _, port := range rule.Ports {
			if port.Port == nil || port.Port.String() != pod.Spec.Containers[0].Ports[0].Name {
				t.Errorf("NetworkPolicy %s: ingress on port %v, want the receiver's port only", np.Name, port.Port)
			}
		}
	}
	sort.Strings(from)
	if want := []string{"alertmanager", "prometheus"}; !slices.Equal(from, want) {
		t.Errorf("NetworkPolicy %s lets in %v, want %v", np.Name, from, want)
	}
	var to []string
	for _, rule := range np.Spec.Egress {
		if len(rule.Ports) == 0 {
			t.Errorf("NetworkPolicy %s: an egress rule without ports opens every port", np.Name)
		}
		for _, port := range rule.Ports {
			protocol := corev1.ProtocolTCP
			if port.Protocol != nil {
				protocol = *port.Protocol
			}
			to = append(to, fmt.Sprintf("%s/%s", port.Port, protocol))
		}
	}
	want := []string{"443/TCP", "53/TCP", "53/UDP"}
	if ha {
		// And PostgreSQL.
		want = append(want, "5432/TCP")
	}
	sort.Strings(want)
	sort.Strings(to)
	if !slices.Equal(to, want) {
		t.Errorf("NetworkPolicy %s lets out to %v, want %v", np.Name, to, want)
	}
}

// receiverTemplate is the pod template of r's receiver: its StatefulSet's,
// or its Deployment's in high availability (ha true).
func receiverTemplate(t *testing.T, r rendered) (pod corev1.PodTemplateSpec, ha bool) {
	t.Helper()
	if ds := each[*appsv1.Deployment](r); len(ds) > 0 {
		return only[*appsv1.Deployment](t, r).Spec.Template, true
	}
	return only[*appsv1.StatefulSet](t, r).Spec.Template, false
}

// checkNamespace: every object but the Namespace is in klaxon, so that
// nothing lands in kubectl's current namespace.
func checkNamespace(t *testing.T, r rendered) {
	t.Helper()
	for _, o := range r.objects {
		obj := o.(metav1.Object)
		if _, ok := o.(*corev1.Namespace); ok {
			continue
		}
		if obj.GetNamespace() != "klaxon" {
			t.Errorf("%T %s is in namespace %q, want klaxon", o, obj.GetName(), obj.GetNamespace())
		}
	}
}

// checkRuleGroups: no rule group is loaded twice, as both source layers
// would be.
func checkRuleGroups(t *testing.T, r rendered) {
	t.Helper()
	seen := map[string]string{}
	for _, pr := range each[*monitoringv1.PrometheusRule](r) {
		for _, g := range pr.Spec.Groups {
			if other, ok := seen[g.Name]; ok {
				t.Errorf("rule group %s is in PrometheusRules %s and %s: load one source layer only", g.Name, other, pr.Name)
			}
			seen[g.Name] = pr.Name
		}
	}
}

// TestOperatorOverlays: the prometheus-operator overlays scrape both
// Services and carry the alerts and their source layer, and the
// node_exporter one turns the exporter's host collectors off.
func TestOperatorOverlays(t *testing.T) {
	for dir, source := range map[string]string{
		"overlays/prometheus-operator":               "klaxon-rules",
		"overlays/prometheus-operator-node-exporter": "klaxon-node-exporter-rules",
	} {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			checkMonitors(t, r)
			checkRules(t, r, source)
			args := only[*appsv1.DaemonSet](t, r).Spec.Template.Spec.Containers[0].Args
			if node := source == "klaxon-node-exporter-rules"; slices.Contains(args, "--collector.disable-defaults") != node {
				t.Errorf("exporter args %v: --collector.disable-defaults should be there exactly with node_exporter's source layer", args)
			}
		})
	}
}

// checkMonitors: a ServiceMonitor for each Service, on its port.
func checkMonitors(t *testing.T, r rendered) {
	t.Helper()
	services := map[string]*corev1.Service{}
	for _, s := range each[*corev1.Service](r) {
		services[s.Name] = s
	}
	var monitored []string
	for _, sm := range each[*monitoringv1.ServiceMonitor](r) {
		s, ok := services[sm.Name]
		if !ok {
			t.Errorf("ServiceMonitor %s: no Service of that name", sm.Name)
			continue
		}
		for k, v := range sm.Spec.Selector.MatchLabels {
			if s.Labels[k] != v {
				t.Errorf("ServiceMonitor %s selects %s=%s, which Service %s does not carry", sm.Name, k, v, s.Name)
			}
		}
		for _, ep := range sm.Spec.Endpoints {
			if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
				t.Errorf("ServiceMonitor %s scrapes port %q, which Service %s does not have", sm.Name, ep.Port, s.Name)
			}
		}
		monitored = append(monitored, sm.Name)
	}
	sort.Strings(monitored)
	if want := []string{"klaxon-exporter", "klaxon-receiver"}; !slices.Equal(monitored, want) {
		t.Errorf("ServiceMonitors for %v, want %v", monitored, want)
	}
}

// checkRules: alerts, the SLO rules, and the one source layer named.
func checkRules(t *testing.T, r rendered, source string) {
	t.Helper()
	var names []string
	var alerts int
	for _, pr := range each[*monitoringv1.PrometheusRule](r) {
		names = append(names, pr.Name)
		for _, g := range pr.Spec.Groups {
			for _, rule := range g.Rules {
				if rule.Alert != "" {
					alerts++
				}
			}
		}
	}
	if alerts == 0 {
		t.Error("the overlay's PrometheusRules hold no alerts")
	}
	sort.Strings(names)
	want := []string{"klaxon-alerts", source, "klaxon-slo-rules"}
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("PrometheusRules %v, want %v", names, want)
	}
}

// TestStrictDecodeRefusesUnknownFields is the negative control: a
// misspelt field in a rendered manifest fails the decode.
func TestStrictDecodeRefusesUnknownFields(t *testing.T) {
	ds := only[*appsv1.DaemonSet](t, render(t, "base"))
	data, err := yaml.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decode("DaemonSet", data); err != nil {
		t.Fatalf("the rendered DaemonSet does not decode again: %v", err)
	}
	bad := strings.Replace(string(data), "hostPID: true", "hostPid: true", 1)
	if bad == string(data) {
		t.Fatal("no hostPID: true in the rendered DaemonSet")
	}
	_, err = decode("DaemonSet", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), `unknown field "spec.template.spec.hostPid"`) {
		t.Errorf("decoding a DaemonSet with hostPid: %v, want an unknown field error", err)
	}
	extra := strings.Replace(string(data), "hostPID: true", "hostPID: true\n      hostIPC: false\n      hostUsers2: true", 1)
	_, err = decode("DaemonSet", []byte(extra))
	if err == nil || !strings.Contains(err.Error(), `unknown field "spec.template.spec.hostUsers2"`) {
		t.Errorf("decoding a DaemonSet with hostUsers2: %v, want an unknown field error", err)
	}
	dup := strings.Replace(string(data), "hostPID: true", "hostPID: true\n      hostPID: false", 1)
	if _, err := decode("DaemonSet", []byte(dup)); err == nil {
		t.Error("decoding a DaemonSet with hostPID twice: no error")
	}
	if _, err := decode("CronJob", data); err == nil || !strings.Contains(err.Error(), `no type known for kind "CronJob"`) {
		t.Errorf("decoding an unknown kind: %v", err)
	}
}

// TestRulesInSync: the committed PrometheusRules are what make
// kubernetes-rules writes from rules/ now.
func TestRulesInSync(t *testing.T) {
	want, err := promrule.Generate(filepath.Join(testenv.RepoRoot(t), "rules"), "rules")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := filepath.Glob(filepath.Join(rulesDir, "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range committed {
		if _, ok := want[filepath.ToSlash(strings.TrimPrefix(path, rulesDir+string(filepath.Separator)))]; !ok {
			t.Errorf("%s is not generated from rules/ (any more): run %s", path, promrule.Command)
		}
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(rulesDir, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%v: run %s", err, promrule.Command)
			continue
		}
		if diff := cmp.Diff(string(data), string(got)); diff != "" {
			t.Errorf("%s/%s is out of date with rules/: run %s (-generated +committed):\n%s", rulesDir, name, promrule.Command, diff)
		}
		if path.Base(name) != promrule.Manifest {
			continue
		}
		if _, err := decode(monitoringv1.PrometheusRuleKind, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// userOverlayFiles are the files of the user overlay README.md shows in
// step 3: its yaml blocks whose first line is "# my-klaxon/<file>", with
// the overlay's resource made relative to dir.
func userOverlayFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const resource = "../deploy/kubernetes/overlays/prometheus-operator"
	operator, err := filepath.Abs("overlays/prometheus-operator")
	if err != nil {
		t.Fatal(err)
	}
	// Kustomize takes relative paths only.
	operator, err = filepath.Rel(dir, operator)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		block = dedent(block)
		first, _, _ := strings.Cut(block, "\n")
		name, ok := strings.CutPrefix(first, "# my-klaxon/")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		files[strings.TrimSuffix(name, ":")] = strings.ReplaceAll(block, resource, operator)
	}
	for _, name := range []string{"kustomization.yaml", "klaxon-receiver.yml"} {
		if files[name] == "" {
			t.Fatalf("README.md has no yaml block starting with # my-klaxon/%s", name)
		}
	}
	if !strings.Contains(files["kustomization.yaml"], operator) {
		t.Fatalf("README.md's my-klaxon/kustomization.yaml does not list %s", resource)
	}
	return files
}

// dedent removes the indentation of block's first line from every line,
// as a code block in a list item is indented.
func dedent(block string) string {
	indent := block[:len(block)-len(strings.TrimLeft(block, " "))]
	var out strings.Builder
	for line := range strings.Lines(block) {
		out.WriteString(strings.TrimPrefix(line, indent))
	}
	return strings.TrimRight(out.String(), " ")
}

// TestUserOverlay builds the overlay README.md shows in step 3: it
// replaces the receiver's config, the StatefulSet mounts the new one
// (whose name changes with its content, rolling the pod), the image tags
// are pinned, and its config, which adds a Slack channel on route
// critical, passes check-config with the Secret's files in place, and
// fails it without the Slack key.
func TestUserOverlay(t *testing.T) {
	dir := t.TempDir()
	files := userOverlayFiles(t, dir)
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	base := only[*corev1.ConfigMap](t, render(t, "base"))
	r := render(t, dir)
	cm := only[*corev1.ConfigMap](t, r)
	if cm.Data["klaxon-receiver.yml"] != files["klaxon-receiver.yml"] {
		t.Errorf("the user's overlay did not replace the config: %q", cm.Data["klaxon-receiver.yml"])
	}
	if cm.Name == base.Name {
		t.Errorf("the replaced ConfigMap keeps the base's name %s: the pod would not roll", cm.Name)
	}
	ss := only[*appsv1.StatefulSet](t, r)
	if !slices.ContainsFunc(ss.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.ConfigMap != nil && v.ConfigMap.Name == cm.Name
	}) {
		t.Errorf("the StatefulSet does not mount ConfigMap %s", cm.Name)
	}
	ds := only[*appsv1.DaemonSet](t, r)
	for _, image := range []string{ss.Spec.Template.Spec.Containers[0].Image, ds.Spec.Template.Spec.Containers[0].Image} {
		if !strings.HasSuffix(image, ":v0.1.0") {
			t.Errorf("image %s is not pinned to v0.1.0", image)
		}
	}

	pod := layOutReceiver(t, r, map[string][]string{secretName: {"ACK_SECRET", "SLACK_WEBHOOK_URL"}})
	configFile := flagValues(pod.args)["--config.file"]
	rt, err := receiverconfig.Load(configFile, promslog.NewNopLogger())
	if err == nil {
		err = receiverconfig.CheckSecretFiles(configFile)
	}
	if err != nil {
		t.Fatalf("check-config of the README's klaxon-receiver.yml, with the Secret's files: %v", err)
	}
	if r := rt.Config.Route("critical"); r == nil || !slices.Equal(r.Channels, []string{"slack-oncall"}) || r.EscalationPolicy != "default" {
		t.Errorf("the README's klaxon-receiver.yml: route critical is %+v, want channels [slack-oncall] and escalation policy default", r)
	}
	slack := filepath.Join(pod.dirs[secretsMount], "SLACK_WEBHOOK_URL")
	if i := slices.IndexFunc(rt.Config.Channels, func(ch receiverconfig.Channel) bool { return ch.Name == "slack-oncall" }); i < 0 ||
		rt.Config.Channels[i].Integration != "slack" || rt.Config.Channels[i].Config.(*slacknotify.Config).WebhookURLFile != slack {
		t.Errorf("the README's config has no Slack channel slack-oncall reading %s: %+v", slack, rt.Config.Channels)
	}

	if err := os.Remove(slack); err != nil {
		t.Fatal(err)
	}
	err = receiverconfig.CheckSecretFiles(configFile)
	if want := "webhook_url_file: open " + slack + ": no such file or directory"; err == nil || !strings.Contains(err.Error(), want) ||
		!strings.HasPrefix(err.Error(), configFile+":") {
		t.Errorf("check-config without the Secret's SLACK_WEBHOOK_URL: %v, want %s:<line>: ...%s", err, configFile, want)
	}
}

// TestEveryRuleFileDeployed: each generated PrometheusRule is in some
// overlay, so that a rule file added to rules/ is not left out of
// Kubernetes unnoticed.
func TestEveryRuleFileDeployed(t *testing.T) {
	deployed := map[string]bool{}
	for _, dir := range kustomizations(t) {
		for _, pr := range each[*monitoringv1.PrometheusRule](render(t, dir)) {
			deployed[pr.Name] = true
		}
	}
	dirs, err := filepath.Glob(filepath.Join(rulesDir, "*", promrule.Kustomization))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatalf("no %s/*/%s", rulesDir, promrule.Kustomization)
	}
	for _, k := range dirs {
		if name := filepath.Base(filepath.Dir(k)); !deployed[name] {
			t.Errorf("PrometheusRule %s (%s) is in no overlay: list it in overlays/prometheus-operator", name, filepath.Dir(k))
		}
	}
}

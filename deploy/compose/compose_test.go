// Package compose_test checks compose.yaml as far as can be done without
// running it: a strict parse of the keys it uses, the files and volumes it
// names, that its klaxon images are those `make image` builds, that the
// Prometheus and Alertmanager configs it mounts pass promtool and amtool
// where the containers see them, and that every address in those configs
// reaches a service.
package compose_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// composeFile is the part of the Compose specification compose.yaml uses;
// any other key is an error.
type composeFile struct {
	Name     string              `yaml:"name"`
	Services map[string]service  `yaml:"services"`
	Volumes  map[string]struct{} `yaml:"volumes"`
}

type service struct {
	Image       string   `yaml:"image"`
	Command     []string `yaml:"command"`
	NetworkMode string   `yaml:"network_mode"`
	PID         string   `yaml:"pid"`
	EnvFile     string   `yaml:"env_file"`
	Ports       []string `yaml:"ports"`
	Volumes     []string `yaml:"volumes"`
	DependsOn   []string `yaml:"depends_on"`
	Restart     string   `yaml:"restart"`
}

// mount is one entry of a service's volumes: a bind mount (Source is a
// path) or a named volume.
type mount struct {
	Source, Target string
	Bind           bool
}

func parseCompose(data []byte) (*composeFile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c composeFile
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	for name, s := range c.Services {
		if s.Image == "" {
			return nil, fmt.Errorf("service %s: no image", name)
		}
		if s.NetworkMode != "" && s.NetworkMode != "host" {
			return nil, fmt.Errorf("service %s: network_mode %q: only host is used", name, s.NetworkMode)
		}
		if s.NetworkMode == "host" && len(s.Ports) > 0 {
			return nil, fmt.Errorf("service %s: ports with network_mode host are ignored", name)
		}
		for _, d := range s.DependsOn {
			if _, ok := c.Services[d]; !ok {
				return nil, fmt.Errorf("service %s: depends_on %s: no such service", name, d)
			}
		}
		for _, v := range s.Volumes {
			m, err := parseMount(v)
			if err != nil {
				return nil, fmt.Errorf("service %s: %w", name, err)
			}
			if _, ok := c.Volumes[m.Source]; !m.Bind && !ok {
				return nil, fmt.Errorf("service %s: volume %s is not declared under volumes", name, m.Source)
			}
		}
	}
	return &c, nil
}

func parseMount(v string) (mount, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return mount{}, fmt.Errorf("volume %q: want SOURCE:TARGET[:OPTIONS]", v)
	}
	if len(parts) == 3 {
		for _, opt := range strings.Split(parts[2], ",") {
			if !slices.Contains([]string{"ro", "rw", "rslave", "z", "Z"}, opt) {
				return mount{}, fmt.Errorf("volume %q: unknown option %q", v, opt)
			}
		}
	}
	bind := strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/")
	if !filepath.IsAbs(parts[1]) {
		return mount{}, fmt.Errorf("volume %q: target must be absolute", v)
	}
	return mount{Source: parts[0], Target: parts[1], Bind: bind}, nil
}

func readCompose(t *testing.T) *composeFile {
	t.Helper()
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCompose(data)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

func TestComposeStrict(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"misspelled key", "services:\n  receiver:\n    image: klaxon-receiver:latest\n    volume: [data:/data]\n",
			"line 4: field volume not found"},
		{"undeclared volume", "services:\n  receiver:\n    image: klaxon-receiver:latest\n    volumes: [data:/data]\n",
			"service receiver: volume data is not declared under volumes"},
		{"unknown dependency", "services:\n  receiver:\n    image: klaxon-receiver:latest\n    depends_on: [alertmanger]\n",
			"service receiver: depends_on alertmanger: no such service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCompose([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestComposeFiles checks that every file compose.yaml names is there.
func TestComposeFiles(t *testing.T) {
	c := readCompose(t)
	used := map[string]bool{}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			m, _ := parseMount(v)
			if !m.Bind {
				used[m.Source] = true
				continue
			}
			if _, err := os.Stat(m.Source); err != nil {
				t.Errorf("service %s mounts %s: %v", name, m.Source, err)
			}
		}
		if s.EnvFile != "" {
			// The user's copy is not in the repository; its example is.
			if _, err := os.Stat(s.EnvFile + ".example"); err != nil {
				t.Errorf("service %s: env_file %s has no example: %v", name, s.EnvFile, err)
			}
			if ignored, err := exec.Command("git", "check-ignore", "-q", s.EnvFile).CombinedOutput(); err != nil {
				t.Errorf("service %s: env_file %s, which holds secrets, is not ignored by git: %v %s", name, s.EnvFile, err, ignored)
			}
		}
	}
	for v := range c.Volumes {
		if !used[v] {
			t.Errorf("volume %s is declared and not used", v)
		}
	}
}

// TestComposeKlaxonImages checks that the klaxon services run the images
// `make image` tags latest, with the entrypoint's flags.
func TestComposeKlaxonImages(t *testing.T) {
	makeProg := testenv.Program(t, "make")
	c := readCompose(t)
	out, err := exec.Command(makeProg, "-n", "-C", testenv.RepoRoot(t), "image").Output()
	if err != nil {
		t.Fatalf("make -n image: %v", err)
	}
	loop := regexp.MustCompile(`for b in ([a-z ]+); do`).FindSubmatch(out)
	if loop == nil || !bytes.Contains(out, []byte("-t klaxon-$b:latest")) || !bytes.Contains(out, []byte("--target $b")) {
		t.Fatalf("make -n image does not build klaxon-$b:latest for each target $b:\n%s", out)
	}
	var built []string
	for _, b := range strings.Fields(string(loop[1])) {
		built = append(built, "klaxon-"+b+":latest")
	}
	var used []string
	for _, s := range c.Services {
		if strings.HasPrefix(s.Image, "klaxon-") {
			used = append(used, s.Image)
		}
	}
	slices.Sort(used)
	if !slices.Equal(used, built) {
		t.Errorf("compose.yaml runs %q, make image builds %q", used, built)
	}
	if got := c.Services["exporter"].Image; got != "klaxon-exporter:latest" {
		t.Errorf("service exporter runs %s", got)
	}
	if got := c.Services["receiver"].Image; got != "klaxon-receiver:latest" {
		t.Errorf("service receiver runs %s", got)
	}
}

// TestComposeConfigs runs promtool and amtool on the configs where the
// containers see them: a tree of the services' bind mounts.
func TestComposeConfigs(t *testing.T) {
	c := readCompose(t)
	for _, tc := range []struct{ service, tool string }{
		{"prometheus", "promtool"},
		{"alertmanager", "amtool"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			tool := testenv.Program(t, tc.tool)
			s := c.Services[tc.service]
			root := mountTree(t, s)
			file := flagValue(s.Command, "--config.file")
			if file == "" {
				t.Fatalf("service %s has no --config.file", tc.service)
			}
			args := map[string][]string{"promtool": {"check", "config"}, "amtool": {"check-config"}}[tc.tool]
			cmd := exec.Command(tool, append(args, filepath.Join(root, file))...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", tc.tool, file, err, out)
			}
		})
	}
}

// TestComposeAlertmanagerCopy checks that alertmanager.yml is
// deploy/alertmanager/alertmanager.yml but for the webhooks' host.
func TestComposeAlertmanagerCopy(t *testing.T) {
	deployed, err := os.ReadFile("../alertmanager/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile("alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, bytes.ReplaceAll(deployed, []byte("http://127.0.0.1:9848/"), []byte("http://receiver:9848/")))
	if got := decode(t, copied); !reflect.DeepEqual(got, want) {
		t.Errorf("alertmanager.yml differs from deploy/alertmanager/alertmanager.yml by more than the webhooks' host")
	}
	if bytes.Equal(copied, deployed) || !bytes.Contains(copied, []byte("http://receiver:9848/")) {
		t.Errorf("alertmanager.yml does not send to http://receiver:9848/")
	}
}

// TestComposeAddresses checks that every address Prometheus and
// Alertmanager use reaches a service from where they run: the webhooks a
// service on the compose network by name, Prometheus (in the host's
// network) a port on the host's loopback.
func TestComposeAddresses(t *testing.T) {
	c := readCompose(t)
	exposed := exposedPorts(t)

	am := c.Services["alertmanager"]
	var amCfg struct {
		Receivers []struct {
			WebhookConfigs []struct {
				URL string `yaml:"url"`
			} `yaml:"webhook_configs"`
		} `yaml:"receivers"`
	}
	decodeFile(t, filepath.Join(mountTree(t, am), flagValue(am.Command, "--config.file")), &amCfg)
	for _, r := range amCfg.Receivers {
		for _, w := range r.WebhookConfigs {
			u, err := url.Parse(w.URL)
			if err != nil {
				t.Fatal(err)
			}
			target, ok := c.Services[u.Hostname()]
			if !ok || target.NetworkMode == "host" || am.NetworkMode == "host" {
				t.Errorf("webhook %s: no service %s on alertmanager's network", w.URL, u.Hostname())
				continue
			}
			if !slices.Contains(exposed[target.Image], u.Port()) {
				t.Errorf("webhook %s: %s listens on %q", w.URL, target.Image, exposed[target.Image])
			}
		}
	}

	prom := c.Services["prometheus"]
	if prom.NetworkMode != "host" {
		t.Fatal("prometheus is expected in the host's network")
	}
	onHost := map[string]string{} // loopback port -> service
	for name, s := range c.Services {
		if s.NetworkMode == "host" {
			for _, p := range exposed[s.Image] {
				onHost[p] = name
			}
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) == 2 || parts[0] == "127.0.0.1" || parts[0] == "0.0.0.0" {
				onHost[parts[len(parts)-2]] = name
			}
		}
	}
	var promCfg struct {
		Alerting struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	decodeFile(t, filepath.Join(mountTree(t, prom), flagValue(prom.Command, "--config.file")), &promCfg)
	want := map[string]string{"klaxon-exporter": "exporter", "klaxon-receiver": "receiver"}
	check := func(what, target, service string) {
		host, port, err := net.SplitHostPort(target)
		if err != nil {
			t.Fatal(err)
		}
		if host != "127.0.0.1" || onHost[port] != service {
			t.Errorf("%s: %s does not reach service %s from the host's network (port %s is %q's)", what, target, service, port, onHost[port])
		}
	}
	for _, am := range promCfg.Alerting.Alertmanagers {
		for _, sc := range am.StaticConfigs {
			for _, target := range sc.Targets {
				check("alertmanagers", target, "alertmanager")
			}
		}
	}
	for _, sc := range promCfg.ScrapeConfigs {
		service, ok := want[sc.JobName]
		if !ok {
			continue // the user's applications
		}
		delete(want, sc.JobName)
		for _, s := range sc.StaticConfigs {
			for _, target := range s.Targets {
				check("job "+sc.JobName, target, service)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("prometheus.yml scrapes none of %v", want)
	}
}

// TestComposeEnvExample checks that klaxon.env.example is KEY=value lines
// setting the secrets of each channel kind, as the systemd example does.
func TestComposeEnvExample(t *testing.T) {
	keys := envKeys(t, "klaxon.env.example")
	systemd := slices.DeleteFunc(envKeys(t, "../systemd/klaxon-receiver.env.example"),
		func(k string) bool { return k == "KLAXON_RECEIVER_ARGS" })
	want := []string{"DISCORD_WEBHOOK_URL", "KLAXON_ACK_SECRET", "OPSGENIE_API_KEY", "PAGERDUTY_INTEGRATION_KEY", "SLACK_WEBHOOK_URL"}
	if !slices.Equal(keys, want) || !slices.Equal(systemd, want) {
		t.Errorf("klaxon.env.example sets %q, the systemd example %q; want %q", keys, systemd, want)
	}
}

// mountTree makes a directory that holds a service's bind mounts where
// the container sees them, as symbolic links to the sources.
func mountTree(t *testing.T, s service) string {
	t.Helper()
	root := t.TempDir()
	for _, v := range s.Volumes {
		m, _ := parseMount(v)
		if !m.Bind {
			continue
		}
		src, err := filepath.Abs(m.Source)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, m.Target)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// exposedPorts reads the EXPOSE of each stage of the Containerfile, by the
// image `make image` tags it as.
func exposedPorts(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("../image/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ports := map[string][]string{}
	var image string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "FROM" && strings.EqualFold(f[2], "AS"):
			image = "klaxon-" + f[3] + ":latest"
		case len(f) >= 2 && f[0] == "EXPOSE":
			for _, p := range f[1:] {
				ports[image] = append(ports[image], strings.TrimSuffix(p, "/tcp"))
			}
		}
	}
	return ports
}

func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func envKeys(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(key, " \t") {
			t.Errorf("%s:%d: not KEY=value: %q", path, n+1, line)
			continue
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

func decode(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func decodeFile(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Package image_test builds the container images with `make image` and
// checks them without running a container (podman run cannot set rlimits
// in every sandbox): the image config from `podman image inspect`, the
// filesystem from `podman export`, and the binaries of that filesystem,
// run on the host, chrooted into it as user 65534 when the test runs as
// root.
package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
)

// What the test stamps into the images, as a release would.
const (
	version  = "v9.9.9-imagetest"
	revision = "0123456789abcdef0123456789abcdef01234567"
)

// The user every image runs as: nobody, as in the Prometheus images.
const uid = 65534

var (
	buildOnce sync.Once
	built     *images
	buildErr  error
	// trusted is a certificate for 127.0.0.1 that the test adds to the
	// images' CA bundle, as a CA of the host's would be.
	trusted tls.Certificate
)

// images are the images built for this test run, by binary name.
type images struct {
	podman string
	tags   map[string]string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built != nil {
		for _, tag := range built.tags {
			// make image tags latest too.
			latest := strings.TrimSuffix(tag, ":test") + ":latest"
			_ = exec.Command(built.podman, "rmi", "--force", tag, latest).Run()
		}
	}
	os.Exit(code)
}

// build runs `make image` once per test run, with a prefix of its own so
// that the images of `make image` are left alone.
func build(t *testing.T) *images {
	t.Helper()
	podman := testenv.Program(t, "podman")
	makeProg := testenv.Program(t, "make")
	buildOnce.Do(func() {
		prefix := fmt.Sprintf("localhost/klaxon-imagetest-%d/", os.Getpid())
		dir, err := os.MkdirTemp("", "klaxon-image-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		bundle, err := caBundle(dir)
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, makeProg, "-C", testenv.RepoRoot(t), "image",
			"PODMAN="+podman, "IMAGE_PREFIX="+prefix, "IMAGE_TAG=test", "IMAGE_CONTEXT="+filepath.Join(dir, "context"), "CA_BUNDLE="+bundle,
			"VERSION="+version, "REVISION="+revision)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("make image: %w\n%s", err, out)
			return
		}
		built = &images{podman: podman, tags: map[string]string{
			"klaxon-exporter": prefix + "klaxon-exporter:test",
			"klaxon-receiver": prefix + "klaxon-receiver:test",
		}}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// caBundle writes the host's CA bundle with the trusted certificate added
// into dir, and returns its path.
func caBundle(dir string) (string, error) {
	host, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		return "", fmt.Errorf("the host's CA bundle: %w", err)
	}
	certPEM, keyPEM, err := selfSigned()
	if err != nil {
		return "", err
	}
	if trusted, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "ca-certificates.crt")
	return path, os.WriteFile(path, append(host, certPEM...), 0o644)
}

// selfSigned makes a certificate for 127.0.0.1 that signs itself.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "klaxon image test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// imageConfig is the part of `podman image inspect` the test checks.
type imageConfig struct {
	Config struct {
		User         string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		Entrypoint   []string
		Cmd          []string
		WorkingDir   string
		Labels       map[string]string
	}
	Size int64
}

func inspect(t *testing.T, imgs *images, name string) imageConfig {
	t.Helper()
	out, err := exec.Command(imgs.podman, "image", "inspect", imgs.tags[name]).Output()
	if err != nil {
		t.Fatalf("podman image inspect %s: %v", name, stderrOf(err))
	}
	var cfgs []imageConfig
	if err := json.Unmarshal(out, &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("podman image inspect %s: %v\n%s", name, err, out)
	}
	return cfgs[0]
}

func TestImageConfig(t *testing.T) {
	imgs := build(t)
	for _, tc := range []struct {
		name    string
		port    string
		volumes []string
	}{
		{"klaxon-exporter", "9847/tcp", nil},
		{"klaxon-receiver", "9848/tcp", []string{"/data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := inspect(t, imgs, tc.name).Config
			if cfg.User != "65534:65534" {
				t.Errorf("User = %q, want 65534:65534 (numeric, not root)", cfg.User)
			}
			if want := []string{"/bin/" + tc.name}; !slices.Equal(cfg.Entrypoint, want) || len(cfg.Cmd) != 0 {
				t.Errorf("Entrypoint %q Cmd %q, want %q and no Cmd", cfg.Entrypoint, cfg.Cmd, want)
			}
			if ports := keys(cfg.ExposedPorts); !slices.Equal(ports, []string{tc.port}) {
				t.Errorf("ExposedPorts = %q, want [%s]", ports, tc.port)
			}
			if vols := keys(cfg.Volumes); !slices.Equal(vols, tc.volumes) {
				t.Errorf("Volumes = %q, want %q", vols, tc.volumes)
			}
			want := map[string]string{
				"org.opencontainers.image.title":    tc.name,
				"org.opencontainers.image.version":  version,
				"org.opencontainers.image.revision": revision,
				"org.opencontainers.image.source":   "https://github.com/klaxonhq/klaxon",
				"org.opencontainers.image.licenses": "NOASSERTION",
			}
			for k, v := range want {
				if cfg.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], v)
				}
			}
			if _, err := time.Parse(time.RFC3339, cfg.Labels["org.opencontainers.image.created"]); err != nil {
				t.Errorf("label org.opencontainers.image.created: %v", err)
			}
		})
	}
}

// entry is one file of an image's filesystem.
type entry struct {
	dir      bool
	mode     os.FileMode
	uid, gid int
}

func TestImageLayout(t *testing.T) {
	imgs := build(t)
	common := map[string]entry{
		"bin/":                              {dir: true, mode: 0o755},
		"etc/":                              {dir: true, mode: 0o755},
		"etc/ssl/":                          {dir: true, mode: 0o755},
		"etc/ssl/certs/":                    {dir: true, mode: 0o755},
		"etc/ssl/certs/ca-certificates.crt": {mode: 0o644},
	}
	for _, tc := range []struct {
		name  string
		extra map[string]entry
	}{
		{"klaxon-exporter", map[string]entry{"bin/klaxon-exporter": {mode: 0o755}}},
		{"klaxon-receiver", map[string]entry{
			"bin/klaxon-receiver": {mode: 0o755},
			"data/":               {dir: true, mode: 0o755, uid: uid, gid: uid},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := maps(common, tc.extra)
			root, got := exportLayout(t, imgs, tc.name)
			for name, e := range got {
				if w, ok := want[name]; !ok {
					t.Errorf("unexpected file in the image: /%s", name)
				} else if e != w {
					t.Errorf("/%s: %+v, want %+v", name, e, w)
				}
			}
			for name := range want {
				if _, ok := got[name]; !ok {
					t.Errorf("missing from the image: /%s", name)
				}
			}
			checkStatic(t, filepath.Join(root, "bin", tc.name))
			checkCABundle(t, filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"))
		})
	}
}

func TestImageBinaries(t *testing.T) {
	imgs := build(t)
	for _, name := range []string{"klaxon-exporter", "klaxon-receiver"} {
		t.Run(name+" --version", func(t *testing.T) {
			root := export(t, imgs, name)
			out := runIn(t, root, "/bin/"+name, "--version")
			want := fmt.Sprintf("%s, version %s (branch: ", name, version)
			if !strings.HasPrefix(out, want) || !strings.Contains(out, "revision: "+revision+")") {
				t.Errorf("--version printed\n%s\nwant %q... and revision %s", out, want, revision)
			}
		})
	}
}

// TestReceiverStore starts the receiver of the image with its built-in
// config and checks that its store lands in /data.
func TestReceiverStore(t *testing.T) {
	imgs := build(t)
	root := export(t, imgs, "klaxon-receiver")
	out := runIn(t, root, "/bin/klaxon-receiver", "check-config")
	if !strings.HasPrefix(out, "built-in config: OK") {
		t.Errorf("check-config printed %q, want the built-in config to be OK", out)
	}
	addr := testenv.FreeAddr(t)
	p := startIn(t, root, "/bin/klaxon-receiver", "--web.listen-address="+addr)
	p.waitReady(t, "http://"+addr+"/-/ready")
	fi, err := os.Stat(filepath.Join(root, "data", "klaxon-receiver.db"))
	if err != nil {
		t.Fatalf("the store is not in /data: %v", err)
	}
	if chrooted() {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid {
			t.Errorf("/data/klaxon-receiver.db is owned by %d, want %d", st.Uid, uid)
		}
	}
}

// TestReceiverTimeZones runs `oncall` on the example config, whose
// schedules and users are in Europe/London and America/New_York, in an
// image that has no zoneinfo files: the time zones come from the binary.
func TestReceiverTimeZones(t *testing.T) {
	imgs := build(t)
	root := export(t, imgs, "klaxon-receiver")
	example, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "deploy/receiver/klaxon-receiver.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "klaxon-receiver.yml"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	// Monday 2026-12-07 10:00 London is 48 weeks after the rotation's
	// start, 2026-01-05 09:00: alice, bob, carol in turn makes it alice's
	// week (48 mod 3 = 0), handing off to bob at 09:00 London time, GMT.
	out := runIn(t, root, "/bin/klaxon-receiver", "oncall", "--config.file=/klaxon-receiver.yml",
		"--at=2026-12-07T10:00:00Z", "--schedule=primary")
	var row []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "primary" {
			row = f
		}
	}
	if want := []string{"primary", "Europe/London", "alice", "2026-12-14", "09:00", "GMT", "alice", "->", "bob"}; !slices.Equal(row, want) {
		t.Errorf("oncall printed\n%s\nwant the row %q", out, want)
	}
}

// TestReceiverHTTPS sends a test message from the image's receiver to a
// fake Slack behind HTTPS: the receiver trusts what the image's CA bundle
// holds, and nothing else.
func TestReceiverHTTPS(t *testing.T) {
	imgs := build(t)
	root := export(t, imgs, "klaxon-receiver")
	slack := slacktest.NewServer()
	t.Cleanup(slack.Close)
	target, err := url.Parse(slack.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)

	trustedSrv := httptest.NewUnstartedServer(proxy)
	trustedSrv.TLS = &tls.Config{Certificates: []tls.Certificate{trusted}}
	trustedSrv.StartTLS()
	t.Cleanup(trustedSrv.Close)
	untrustedSrv := httptest.NewTLSServer(proxy) // net/http's own test certificate
	t.Cleanup(untrustedSrv.Close)

	webhook := strings.TrimPrefix(slack.NewWebhook(), slack.URL())
	config := fmt.Sprintf(`channels:
  - name: trusted
    slack:
      webhook_url: %s%s
  - name: untrusted
    slack:
      webhook_url: %s%s
routes:
  - name: critical
    channels: [trusted, untrusted]
`, trustedSrv.URL, webhook, untrustedSrv.URL, webhook)
	if err := os.WriteFile(filepath.Join(root, "https.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}

	out := runIn(t, root, "/bin/klaxon-receiver", "send-test", "--config.file=/https.yml", "--channel=trusted")
	if !strings.Contains(out, `test message delivered to channel "trusted"`) || len(slack.Received()) != 1 {
		t.Errorf("send-test through HTTPS printed %q; Slack received %d messages, want 1", out, len(slack.Received()))
	}

	cmd := command(root, "/bin/klaxon-receiver", "send-test", "--config.file=/https.yml", "--channel=untrusted")
	cmd.Env = imageEnv(root)
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "certificate signed by unknown authority") {
		t.Errorf("send-test to a server the bundle does not vouch for: %v\n%s\nwant the certificate refused", err, b)
	}
	if n := len(slack.Received()); n != 1 {
		t.Errorf("Slack received %d messages, want 1", n)
	}
}

// export extracts the filesystem of a container of the image into a new
// directory. Only directories and regular files are expected.
func export(t *testing.T, imgs *images, name string) string {
	t.Helper()
	root, _ := exportLayout(t, imgs, name)
	return root
}

// exportLayout is export, and lists the files as the image holds them, by
// their path with a trailing slash for directories.
func exportLayout(t *testing.T, imgs *images, name string) (string, map[string]entry) {
	t.Helper()
	id, err := exec.Command(imgs.podman, "create", imgs.tags[name]).Output()
	if err != nil {
		t.Fatalf("podman create: %v", stderrOf(err))
	}
	ctr := strings.TrimSpace(string(id))
	defer func() { _ = exec.Command(imgs.podman, "rm", "--force", ctr).Run() }()
	tarball, err := exec.Command(imgs.podman, "export", ctr).Output()
	if err != nil {
		t.Fatalf("podman export: %v", stderrOf(err))
	}
	root := t.TempDir()
	files, err := untar(bytes.NewReader(tarball), root)
	if err != nil {
		t.Fatal(err)
	}
	return root, files
}

func untar(r io.Reader, root string) (map[string]entry, error) {
	files := map[string]entry{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(filepath.Clean("/"+h.Name), "/")
		e := entry{dir: h.Typeflag == tar.TypeDir, mode: h.FileInfo().Mode().Perm(), uid: h.Uid, gid: h.Gid}
		if e.dir {
			name += "/"
		}
		files[name] = e
		path := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, h.FileInfo().Mode().Perm()); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			if err := writeFile(path, tr, h.FileInfo().Mode().Perm()); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s: unexpected file type %q in the image", h.Name, h.Typeflag)
		}
		if os.Geteuid() == 0 {
			if err := os.Lchown(path, h.Uid, h.Gid); err != nil {
				return nil, err
			}
		}
		if err := os.Chmod(path, h.FileInfo().Mode().Perm()); err != nil {
			return nil, err
		}
	}
}

func writeFile(path string, r io.Reader, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkStatic fails t unless path is a statically linked ELF executable:
// FROM scratch has no dynamic loader and no libc.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader; build it with CGO_ENABLED=0", filepath.Base(path))
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s links %q (%v); want none", filepath.Base(path), libs, err)
	}
}

func checkCABundle(t *testing.T, path string) {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		t.Errorf("%s holds no certificates", path)
	}
}

// chrooted reports whether the binaries run chrooted into the image as
// user 65534, which needs root. Otherwise they run from the image's
// directory as the test's user.
func chrooted() bool { return os.Geteuid() == 0 }

// imageEnv is the environment of a binary of the image: nothing of the
// host's. Run from the tree rather than chrooted, the binary is pointed at
// the image's CA bundle.
func imageEnv(root string) []string {
	if chrooted() {
		return []string{}
	}
	return []string{"SSL_CERT_FILE=" + filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")}
}

func command(root, path string, args ...string) *exec.Cmd {
	if chrooted() {
		cmd := exec.Command(path, args...)
		cmd.Path = path // looked up inside the chroot, not on the host
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		return cmd
	}
	cmd := exec.Command(filepath.Join(root, path), args...)
	cmd.Dir = root
	return cmd
}

// runIn runs a binary of the image to its end and returns its output.
func runIn(t *testing.T, root, path string, args ...string) string {
	t.Helper()
	cmd := command(root, path, args...)
	cmd.Env = imageEnv(root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", path, args, err, out)
	}
	return string(out)
}

// process is a binary of the image started by startIn.
type process struct {
	cmd    *exec.Cmd
	out    testenv.Buffer
	exited chan struct{}
}

// startIn starts a binary of the image, in a process group of its own that
// is killed when the test ends.
func startIn(t *testing.T, root, path string, args ...string) *process {
	t.Helper()
	p := &process{cmd: command(root, path, args...), exited: make(chan struct{})}
	p.cmd.Env = imageEnv(root)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if p.cmd.SysProcAttr == nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	p.cmd.SysProcAttr.Setpgid = true
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		if t.Failed() {
			t.Logf("output of %s:\n%s", path, p.out.String())
		}
	})
	return p
}

// waitReady waits until url answers 200, and fails t at once if the
// process exits.
func (p *process) waitReady(t *testing.T, url string) {
	t.Helper()
	testenv.Eventually(t, time.Minute, func() error {
		select {
		case <-p.exited:
			t.Fatalf("exited: %v\n%s", p.cmd.ProcessState, p.out.String())
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func maps(a, b map[string]entry) map[string]entry {
	m := map[string]entry{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func stderrOf(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return err
}

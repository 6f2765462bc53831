// Package systemd_test checks the unit files with systemd-analyze: verify
// (syntax, every key and value known, the commands there) and security
// (the sandbox's exposure), in a root of their own.
package systemd_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
)

var units = []string{"klaxon-exporter.service", "klaxon-receiver.service"}

// maxExposure is the highest `systemd-analyze security` exposure a unit
// may have, in tenths (its --threshold): 2.0 on the 0 (safe) to 10
// (unsafe) scale, the top of what it calls "OK".
const maxExposure = "20"

func TestUnitsVerify(t *testing.T) {
	analyze := testenv.Program(t, "systemd-analyze")
	for _, unit := range units {
		t.Run(unit, func(t *testing.T) {
			root := install(t, unit, readUnit(t, unit))
			if out, err := verify(analyze, root, unit); err != nil {
				t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
			}
		})
	}
}

// TestUnitsVerifyBroken is the negative control: systemd-analyze verify
// exits 0 on unknown keys and bad values, printing a warning, so verify
// must count any output as a failure.
func TestUnitsVerifyBroken(t *testing.T) {
	analyze := testenv.Program(t, "systemd-analyze")
	good := readUnit(t, "klaxon-receiver.service")
	for _, tc := range []struct{ name, old, new string }{
		{"misspelled key", "ProtectSystem=strict", "ProtectSytem=strict"},
		{"bad value", "ProtectSystem=strict", "ProtectSystem=very"},
		{"unknown syscall set", "SystemCallFilter=@system-service", "SystemCallFilter=@system-servce"},
		{"missing binary", "/usr/local/bin/klaxon-receiver", "/usr/local/bin/klaxon-reciever"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the unit has no %q to break", tc.old)
			}
			broken := strings.Replace(good, tc.old, tc.new, 1)
			// The stub binaries are those of the good unit.
			root := install(t, "klaxon-receiver.service", good)
			write(t, filepath.Join(root, "etc/systemd/system/klaxon-receiver.service"), broken, 0o644)
			if out, err := verify(analyze, root, "klaxon-receiver.service"); err == nil {
				t.Errorf("verify passed a unit with a %s:\n%s", tc.name, out)
			}
		})
	}
}

func TestUnitsSecurity(t *testing.T) {
	analyze := testenv.Program(t, "systemd-analyze")
	for _, unit := range units {
		t.Run(unit, func(t *testing.T) {
			root := install(t, unit, readUnit(t, unit))
			cmd := exec.Command(analyze, "security", "--offline=true", "--no-pager",
				"--threshold="+maxExposure, "--root="+root, "/etc/systemd/system/"+unit)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("systemd-analyze security %s: exposure above %s tenths, or no score (%v):\n%s", unit, maxExposure, err, out)
			}
			t.Logf("%s", lastLine(out))
		})
	}
}

// TestEnvironmentFileExample checks that the example is a file systemd
// reads as KEY=value lines, naming the receiver's flags and the secrets
// of each channel kind.
func TestEnvironmentFileExample(t *testing.T) {
	data, err := os.ReadFile("klaxon-receiver.env.example")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(key, " \t") {
			t.Errorf("klaxon-receiver.env.example:%d: not KEY=value: %q", n, line)
			continue
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	want := []string{"DISCORD_WEBHOOK_URL", "KLAXON_ACK_SECRET", "KLAXON_RECEIVER_ARGS", "OPSGENIE_API_KEY", "PAGERDUTY_INTEGRATION_KEY", "SLACK_WEBHOOK_URL"}
	if !slices.Equal(keys, want) {
		t.Errorf("klaxon-receiver.env.example sets %q, want %q", keys, want)
	}
}

// verify runs systemd-analyze verify on unit in root, and counts any
// output as a failure.
func verify(analyze, root, unit string) ([]byte, error) {
	cmd := exec.Command(analyze, "verify", "--man=no", "--root="+root, "/etc/systemd/system/"+unit)
	out, err := cmd.CombinedOutput()
	if err == nil && len(bytes.TrimSpace(out)) > 0 {
		err = errWarnings
	}
	return out, err
}

// errWarnings is a verify that exits 0 but says something is wrong.
var errWarnings = errors.New("systemd-analyze verify printed warnings")

// install makes a root with the host's systemd units (the targets the
// unit refers to), the unit at /etc/systemd/system, and a stub executable
// at the path of each command it runs: verify checks that they are there
// and executable, not what they do.
func install(t *testing.T, unit, text string) string {
	t.Helper()
	root := t.TempDir()
	hostUnits := "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(hostUnits, "sysinit.target")); err != nil {
		hostUnits = "/lib/systemd/system"
	}
	cp := exec.Command("cp", "-a", hostUnits, filepath.Join(root, "usr/lib/systemd/"))
	if err := os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copying the host's units: %v\n%s", err, out)
	}
	write(t, filepath.Join(root, "etc/systemd/system", unit), text, 0o644)
	for _, path := range commands(text) {
		write(t, filepath.Join(root, path), "#!/bin/sh\n", 0o755)
	}
	return root
}

// commands lists the programs a unit's Exec*= lines run.
func commands(unit string) []string {
	var paths []string
	for line := range strings.Lines(unit) {
		key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || !strings.HasPrefix(key, "Exec") {
			continue
		}
		if f := strings.Fields(strings.TrimLeft(value, "-@:+!")); len(f) > 0 {
			paths = append(paths, f[0])
		}
	}
	return paths
}

func readUnit(t *testing.T, unit string) string {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func write(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// The drop-in and config for replicas sharing a PostgreSQL store, whose
// secrets are credentials under credentialsDir.
const (
	dropIn         = "klaxon-receiver.service.d/postgres.conf"
	haConfig       = "klaxon-receiver-ha.yml"
	credentialsDir = "/run/credentials/klaxon-receiver.service/"
)

// TestDropInVerify: the unit with the PostgreSQL drop-in passes verify
// and keeps its security exposure; a misspelled key in the drop-in fails
// verify, so verify reads it.
func TestDropInVerify(t *testing.T) {
	analyze := testenv.Program(t, "systemd-analyze")
	const unit = "klaxon-receiver.service"
	good := readUnit(t, dropIn)
	installDropIn := func(text string) string {
		root := install(t, unit, readUnit(t, unit))
		write(t, filepath.Join(root, "etc/systemd/system", dropIn), text, 0o644)
		return root
	}
	root := installDropIn(good)
	if out, err := verify(analyze, root, unit); err != nil {
		t.Errorf("systemd-analyze verify %s with %s: %v\n%s", unit, dropIn, err, out)
	}
	cmd := exec.Command(analyze, "security", "--offline=true", "--no-pager",
		"--threshold="+maxExposure, "--root="+root, "/etc/systemd/system/"+unit)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze security %s with %s: exposure above %s tenths, or no score (%v):\n%s", unit, dropIn, maxExposure, err, out)
	}

	broken := strings.Replace(good, "LoadCredential=", "LoadCredentail=", 1)
	if broken == good {
		t.Fatalf("%s has no LoadCredential= to break", dropIn)
	}
	if out, err := verify(analyze, installDropIn(broken), unit); err == nil {
		t.Errorf("verify passed %s with a misspelled key: it does not read the drop-in\n%s", dropIn, out)
	}
}

// TestHAConfigExample: the replicas' config passes check-config with the
// drop-in's credentials in place, keeps its store in PostgreSQL through
// the DSN credential, and names no credential the drop-in does not load.
func TestHAConfigExample(t *testing.T) {
	loaded := map[string]bool{}
	for line := range strings.Lines(readUnit(t, dropIn)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "LoadCredential="); ok {
			name, _, _ := strings.Cut(v, ":")
			loaded[name] = true
		}
	}
	text := readUnit(t, haConfig)
	named := regexp.MustCompile(regexp.QuoteMeta(credentialsDir)+`([A-Za-z0-9][A-Za-z0-9_.-]*)`).FindAllStringSubmatch(text, -1)
	if len(named) == 0 {
		t.Fatalf("%s names no credential under %s", haConfig, credentialsDir)
	}
	for _, m := range named {
		if !loaded[m[1]] {
			t.Errorf("%s reads %s%s, which %s does not load", haConfig, credentialsDir, m[1], dropIn)
		}
	}

	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials") + "/"
	for name := range loaded {
		write(t, creds+name, "https://test.invalid/"+strings.Repeat("k", 48), 0o600)
	}
	configFile := filepath.Join(dir, "klaxon-receiver.yml")
	write(t, configFile, strings.ReplaceAll(text, credentialsDir, creds), 0o644)
	rt, err := receiverconfig.Load(configFile, promslog.NewNopLogger())
	if err == nil {
		err = receiverconfig.CheckSecretFiles(configFile)
	}
	if err != nil {
		t.Fatalf("check-config of %s with the drop-in's credentials: %v", haConfig, err)
	}
	if pg := rt.Config.Storage.Postgres; pg == nil || pg.DSNFile != creds+"postgres-dsn" {
		t.Errorf("%s: storage.postgres %+v, want dsn_file %spostgres-dsn", haConfig, pg, credentialsDir)
	}
	bin := testenv.Binary(t, "klaxon-receiver")
	out, err := exec.CommandContext(t.Context(), bin, "check-config", "--config.file="+configFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), configFile+": OK") {
		t.Errorf("klaxon-receiver check-config --config.file=%s: %v\n%s", configFile, err, out)
	}
}

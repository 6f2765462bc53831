package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// stopTimeout bounds how long make run may take to stop both binaries.
const stopTimeout = 30 * time.Second

// TestMakeRun runs `make run` with both configs, free ports and a
// temporary store, waits until the exporter probes what its config says
// and the receiver answers, then stops it as a user does: a SIGTERM to
// make (make passes it to the recipe), or Ctrl-C, which the terminal sends
// to make's whole process group. Both binaries shut down, make ends by
// that signal and nothing says it crashed, and no process is left.
func TestMakeRun(t *testing.T) {
	testenv.Program(t, "make")
	testenv.Program(t, "bash")
	for _, tc := range []struct {
		name  string
		group bool
		sig   syscall.Signal
	}{
		{"SIGTERM to make", false, syscall.SIGTERM},
		{"Ctrl-C", true, syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) { testMakeRun(t, tc.group, tc.sig) })
	}
	t.Run("receiver fails", testMakeRunFails)
}

// startMakeRun starts `make run` with the binaries built into dir/bin and
// the given variables. A make that runs this test passes its jobserver in
// MAKEFLAGS; the make under test must not take it.
func startMakeRun(t *testing.T, dir string, vars ...string) *testenv.Process {
	t.Helper()
	args := append([]string{"-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL", "make", "run", "BIN=" + filepath.Join(dir, "bin")}, vars...)
	return testenv.StartProcess(t, testenv.RepoRoot(t), "env", args...)
}

// testMakeRunFails: a receiver that cannot listen ends make run, which
// stops the exporter and fails.
func testMakeRunFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	receiverConfig := filepath.Join(dir, "receiver.yml")
	writeFile(t, receiverConfig, "storage:\n  path: "+filepath.Join(dir, "data", "receiver.db")+"\n")
	p := startMakeRun(t, dir, "RECEIVER_CONFIG="+receiverConfig, "EXPORTER_ADDR="+testenv.FreeAddr(t), "RECEIVER_ADDR="+taken.Addr().String())
	select {
	case <-p.Exited():
	case <-time.After(5 * time.Minute): // make builds first
		t.Fatal("make run still running with the receiver's port taken")
	}
	out := p.Output()
	if code := p.Cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(out, "address already in use") || !strings.Contains(out, "make: *** [Makefile") {
		t.Errorf("make exited %d, want 2 with the receiver's listen error and make's report:\n%s", code, out)
	}
	if !strings.Contains(out, `msg="shutting down"`) {
		t.Errorf("the exporter did not shut down:\n%s", out)
	}
	if left := processesUnder(t, filepath.Join(dir, "bin")); len(left) > 0 {
		t.Errorf("left running: %v", left)
	}
}

func testMakeRun(t *testing.T, group bool, sig syscall.Signal) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	defer app.Close()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	exporterConfig, receiverConfig := filepath.Join(dir, "exporter.yml"), filepath.Join(dir, "receiver.yml")
	writeFile(t, exporterConfig, "probes:\n  - name: app\n    http:\n      url: "+app.URL+"/\n")
	store := filepath.Join(dir, "data", "receiver.db")
	writeFile(t, receiverConfig, "storage:\n  path: "+store+"\nroutes:\n  - name: critical\n")
	exporterAddr, receiverAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)

	p := startMakeRun(t, dir, "EXPORTER_CONFIG="+exporterConfig, "RECEIVER_CONFIG="+receiverConfig,
		"EXPORTER_ADDR="+exporterAddr, "RECEIVER_ADDR="+receiverAddr)
	p.WaitReady(t, "http://"+receiverAddr+"/-/ready", 5*time.Minute) // make builds first
	testenv.Eventually(t, startTimeout, func() error {
		code, body, err := httpDo(t.Context(), http.MethodGet, "http://"+exporterAddr+"/metrics", nil)
		switch {
		case err != nil:
			return err
		case code != http.StatusOK || !strings.Contains(body, `klaxon_probe_success{probe="app",type="http"} 1`):
			return fmt.Errorf("exporter: %d, no successful probe app", code)
		}
		return nil
	})
	if _, err := os.Stat(store); err != nil {
		t.Errorf("the receiver's store is not where RECEIVER_CONFIG says: %v", err)
	}
	if left := processesUnder(t, bin); len(left) != 2 {
		t.Fatalf("running from %s: %v, want the exporter and the receiver", bin, left)
	}

	pid := p.Cmd.Process.Pid
	if group {
		pid = -pid
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(stopTimeout):
		t.Fatalf("make run still running %s after %v", stopTimeout, sig)
	}
	// GNU make waits for the recipe, then dies by the signal it got.
	ws := p.Cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != sig {
		t.Errorf("make ended with %v, want to be ended by %v", p.Cmd.ProcessState, sig)
	}
	out := p.Output()
	for _, bad := range []string{"Segmentation fault", "make: ***", "level=ERROR"} {
		if strings.Contains(out, bad) {
			t.Errorf("make run's output has %q:\n%s", bad, out)
		}
	}
	if n := strings.Count(out, `msg="shutting down"`); n != 2 {
		t.Errorf("%d binaries logged shutting down, want 2:\n%s", n, out)
	}
	if left := processesUnder(t, bin); len(left) > 0 {
		t.Errorf("left running: %v", left)
	}
}

// processesUnder lists the processes whose program is in dir, by pid and
// command line, from /proc.
func processesUnder(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		testenv.Missing(t, "no /proc to list processes: %v", err)
	}
	var out []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // not a process, or gone
		}
		if args := strings.Split(string(cmdline), "\x00"); strings.HasPrefix(args[0], dir+"/") {
			out = append(out, e.Name()+" "+strings.Join(args, " "))
		}
	}
	return out
}

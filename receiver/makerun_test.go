package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/pkg/testenv"
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

	// A make that runs this test passes its jobserver in MAKEFLAGS; the
	// make under test must not take it.
	p := testenv.StartProcess(t, testenv.RepoRoot(t), "env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL",
		"make", "run", "BIN="+bin, "EXPORTER_CONFIG="+exporterConfig, "RECEIVER_CONFIG="+receiverConfig,
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

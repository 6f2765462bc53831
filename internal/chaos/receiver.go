package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/benchcmp"
	"github.com/klaxonhq/klaxon/internal/testenv"
)

// startTimeout bounds how long the receiver may take to be ready, on a
// shared and loaded machine.
const startTimeout = time.Minute

// Receiver is a klaxon-receiver process run from the built binary, with
// its config and store in a directory of the test's. It can be killed and
// started again on the same store and address.
type Receiver struct {
	// Addr is where it listens; Dir holds its config, DataDir its store.
	Addr, Dir, DataDir string

	bin, config string
	proc        *testenv.Process
	// peak is the largest VmHWM of its processes so far.
	peak int64
}

// NewReceiver writes config (see Upstreams.Config, which wants DB as the
// store's path) into dir and returns a receiver not yet started, on a
// free loopback address. dataDir holds the store; "" puts it under dir.
func NewReceiver(t testing.TB, bin, dir, dataDir string, config func(db, externalURL string) string) *Receiver {
	t.Helper()
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	r := &Receiver{Addr: testenv.FreeAddr(t), Dir: dir, DataDir: dataDir, bin: bin}
	r.config = filepath.Join(dir, "klaxon-receiver.yml")
	text := config(r.DB(), r.URL("/"))
	if err := os.WriteFile(r.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// DB is the store's path.
func (r *Receiver) DB() string { return filepath.Join(r.DataDir, "klaxon-receiver.db") }

// URL is the address of path on the receiver.
func (r *Receiver) URL(path string) string { return "http://" + r.Addr + path }

// Start runs the receiver and waits until it is ready.
func (r *Receiver) Start(t testing.TB) {
	t.Helper()
	r.proc = testenv.StartProcess(t, "", r.bin, "--config.file="+r.config, "--web.listen-address="+r.Addr)
	r.proc.WaitReady(t, r.URL("/-/ready"), startTimeout)
}

// StartUnready runs the receiver and waits until it is healthy, for a
// receiver that is not to be ready.
func (r *Receiver) StartUnready(t testing.TB) {
	t.Helper()
	r.proc = testenv.StartProcess(t, "", r.bin, "--config.file="+r.config, "--web.listen-address="+r.Addr)
	r.proc.WaitReady(t, r.URL("/-/healthy"), startTimeout)
}

// Stop sends SIGTERM, as systemd or Kubernetes would, and waits for the
// process to be gone, noting its peak memory first. The receiver must
// exit 0.
func (r *Receiver) Stop(t testing.TB) {
	t.Helper()
	r.notePeak()
	if err := r.proc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-r.proc.Exited()
	if code := r.proc.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("klaxon-receiver stopped with exit %d:\n%s", code, r.proc.Output())
	}
}

// Kill sends SIGKILL, as a crash or the OOM killer would, and waits for
// the process to be gone, noting its peak memory first.
func (r *Receiver) Kill(t testing.TB) {
	t.Helper()
	r.notePeak()
	if err := r.proc.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.proc.Exited()
}

// Pause sends SIGSTOP, as a hung process, a long GC pause or a frozen VM
// would be: the process does nothing, but the kernel keeps its
// connections open and still accepts new ones on its port.
func (r *Receiver) Pause(t testing.TB) {
	t.Helper()
	r.notePeak()
	if err := r.proc.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

// Resume sends SIGCONT to a paused receiver.
func (r *Receiver) Resume(t testing.TB) {
	t.Helper()
	if err := r.proc.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// PeakRSS is the largest resident set of the receiver's processes so far
// (VmHWM in /proc/<pid>/status), in bytes.
func (r *Receiver) PeakRSS() int64 {
	r.notePeak()
	return r.peak
}

func (r *Receiver) notePeak() {
	if r.proc == nil || r.proc.HasExited() {
		return
	}
	if u, err := benchcmp.ReadUsage(r.proc.Cmd.Process.Pid); err == nil {
		r.peak = max(r.peak, u.PeakRSS)
	}
}

// Alive fails t if the process has exited.
func (r *Receiver) Alive(t testing.TB) {
	t.Helper()
	if r.proc.HasExited() {
		t.Fatalf("klaxon-receiver exited: %v\n%s", r.proc.Cmd.ProcessState, r.proc.Output())
	}
}

// Output is what the current process logged.
func (r *Receiver) Output() string { return r.proc.Output() }

// Post sends body to url as Alertmanager does and returns the status and
// the answer.
func Post(ctx context.Context, client *http.Client, url string, body []byte, header http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, answer, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, answer, nil
}

package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a program started by a test, in a process group of its own
// that is killed when the test ends.
type Process struct {
	// Cmd is the running command, for signals and its exit state.
	Cmd    *exec.Cmd
	out    Buffer
	exited chan struct{}
}

// StartProcess starts path with args in dir ("" for the test's own) and
// collects its stdout and stderr together. When the test ends the process
// group is killed and, if the test failed, the output is logged.
func StartProcess(t testing.TB, dir, path string, args ...string) *Process {
	t.Helper()
	p := &Process{Cmd: exec.Command(path, args...), exited: make(chan struct{})}
	p.Cmd.Dir = dir
	p.Cmd.Stdout, p.Cmd.Stderr = &p.out, &p.out
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.Cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(path), p.Output())
		}
	})
	return p
}

// Exited is closed once the process has exited and Cmd.ProcessState is
// set.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// HasExited reports whether the process has exited.
func (p *Process) HasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Output is what the process wrote so far, stdout and stderr together.
func (p *Process) Output() string { return p.out.String() }

// WaitReady waits up to timeout until url answers 200, and fails t at
// once if the process exits.
func (p *Process) WaitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		if p.HasExited() {
			t.Fatalf("%s exited: %v\n%s", p.Cmd.Path, p.Cmd.ProcessState, p.Output())
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
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

// Buffer is a bytes.Buffer safe for concurrent writes, such as a
// process's output or a logger's lines, and the test's reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// SilentListener listens on loopback, accepts connections and never
// answers, for tests of timeouts; it returns its address. The connections
// are closed when the test ends.
func SilentListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// Package benchcmp measures what it costs to scrape an exporter: scrape
// latency, CPU time and bytes per scrape, and peak resident memory. It runs
// each exporter as a child process, scrapes it over loopback and reads the
// process's own accounting from /proc, so that two exporters (klaxon-exporter
// and node_exporter, say) can be compared on one machine in one run.
package benchcmp

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// readyLine is what exporters built on exporter-toolkit log once their
// listener is open.
const readyLine = "Listening on"

// Exporter is a running exporter process.
type Exporter struct {
	Name string
	// URL is the exporter's metrics URL.
	URL string

	cmd    *exec.Cmd
	client *http.Client
	exited chan struct{}

	mu     sync.Mutex
	output strings.Builder
}

// Start runs the program at path with args and --web.listen-address=addr in
// a process group of its own, and returns once the program logs that it is
// listening. It fails if the program exits first or ctx ends first.
func Start(ctx context.Context, name, path, addr string, args ...string) (*Exporter, error) {
	args = append([]string{"--web.listen-address=" + addr}, args...)
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	e := &Exporter{
		Name:   name,
		URL:    "http://" + addr + "/metrics",
		cmd:    cmd,
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}},
		exited: make(chan struct{}),
	}
	ready := make(chan struct{})
	go e.readOutput(r, ready)
	select {
	case <-ready:
		return e, nil
	case <-e.exited:
		err = fmt.Errorf("%s exited before listening:\n%s", name, e.Output())
	case <-ctx.Done():
		err = fmt.Errorf("%s did not start listening: %w\n%s", name, context.Cause(ctx), e.Output())
	}
	return nil, errors.Join(err, e.Stop())
}

// readOutput keeps the process's output, closes ready at the first line
// that says the exporter listens, and closes e.exited at the end of the
// output, which comes when the process exits.
func (e *Exporter) readOutput(r io.ReadCloser, ready chan<- struct{}) {
	defer close(e.exited)
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		e.mu.Lock()
		e.output.WriteString(sc.Text() + "\n")
		e.mu.Unlock()
		if ready != nil && strings.Contains(sc.Text(), readyLine) {
			close(ready)
			ready = nil
		}
	}
}

// Output returns what the process has logged so far.
func (e *Exporter) Output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.output.String()
}

// Pid is the process id.
func (e *Exporter) Pid() int { return e.cmd.Process.Pid }

// Stop kills the process group and waits for the process.
func (e *Exporter) Stop() error {
	e.client.CloseIdleConnections()
	err := syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		err = nil
	}
	e.cmd.Wait() // killed: the exit status says nothing
	<-e.exited
	return err
}

// Sample is the outcome of one scrape.
type Sample struct {
	Latency time.Duration
	// Bytes is the size of the exposition; WireBytes the size of the
	// gzipped body that crossed the connection.
	Bytes, WireBytes int64
	// Series counts the samples in the exposition.
	Series int
}

// Scrape fetches the metrics once, the way Prometheus does (text format,
// gzip, a scrape timeout header of 10s), and reads the whole body.
func (e *Exporter) Scrape(ctx context.Context) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL, nil)
	if err != nil {
		return Sample{}, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	begin := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return Sample{}, err
	}
	defer resp.Body.Close()
	wire := &countingReader{r: resp.Body}
	var body io.Reader = wire
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(wire)
		if err != nil {
			return Sample{}, fmt.Errorf("scraping %s: %w", e.Name, err)
		}
		body = zr
	}
	var series seriesCounter
	n, err := io.Copy(&series, body)
	if err != nil {
		return Sample{}, fmt.Errorf("scraping %s: %w", e.Name, err)
	}
	latency := time.Since(begin)
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("scraping %s: %s", e.Name, resp.Status)
	}
	return Sample{Latency: latency, Bytes: n, WireBytes: wire.n, Series: series.n}, nil
}

// seriesCounter counts the lines of a text exposition that are neither
// empty nor comments: one per sample.
type seriesCounter struct {
	n       int
	midLine bool
}

func (c *seriesCounter) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case b == '\n':
			c.midLine = false
		case !c.midLine:
			c.midLine = true
			if b != '#' {
				c.n++
			}
		}
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

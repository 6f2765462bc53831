package benchcmp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// LoadGenEnv is the environment variable that turns a binary which calls
// LoadGeneratorMain first (the benchmark's test binary) into a load
// generator: it holds the LoadJob to run, as JSON.
const LoadGenEnv = "KLAXON_LOADGEN"

// LoadJob is one phase of load on a webhook: the bodies Payloads(Prefix,
// Payloads) posted to URL, either as fast as Clients senders can (closed
// loop) or at Rate per second (open loop).
type LoadJob struct {
	URL      string  `json:"url"`
	Prefix   string  `json:"prefix"`
	Payloads int     `json:"payloads"`
	Clients  int     `json:"clients,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
}

// LoadResult is what a LoadJob measured: the closed loop's throughput, or
// the open loop's latency of each post.
type LoadResult struct {
	Throughput Throughput      `json:"throughput"`
	Latencies  []time.Duration `json:"latencies,omitempty"`
}

func (j LoadJob) check() error {
	switch {
	case j.URL == "" || j.Payloads <= 0:
		return fmt.Errorf("load job: want a URL and payloads, got %q and %d", j.URL, j.Payloads)
	case (j.Clients > 0) == (j.Rate > 0):
		return fmt.Errorf("load job: want either clients (%d) or a rate (%v)", j.Clients, j.Rate)
	}
	return nil
}

// Run does the job from this process.
func (j LoadJob) Run(ctx context.Context) (LoadResult, error) {
	if err := j.check(); err != nil {
		return LoadResult{}, err
	}
	bodies, err := bodies(j.Prefix, j.Payloads)
	if err != nil {
		return LoadResult{}, err
	}
	client := NewClient(max(j.Clients, 16))
	defer client.CloseIdleConnections()
	if j.Clients > 0 {
		t, err := MaxThroughput(ctx, client, j.URL, bodies, j.Clients)
		return LoadResult{Throughput: t}, err
	}
	lat, err := OpenLoop(ctx, client, j.URL, bodies, j.Rate)
	return LoadResult{Latencies: lat}, err
}

// RunLoad does the job in a process of its own: this binary again, with
// LoadGenEnv set. Alertmanager never runs inside klaxon-receiver; a load
// generator in the measured process would share its Go scheduler, and
// hundreds of sender goroutines would queue ahead of the store's one
// committer at every turn, which no real sender can do.
func RunLoad(ctx context.Context, job LoadJob) (LoadResult, error) {
	if err := job.check(); err != nil {
		return LoadResult{}, err
	}
	spec, err := json.Marshal(job)
	if err != nil {
		return LoadResult{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return LoadResult{}, fmt.Errorf("load generator: %w", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), LoadGenEnv+"="+string(spec))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return LoadResult{}, fmt.Errorf("load generator: %w: %s", err, excerpt(stderr.Bytes()))
	}
	var res LoadResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return LoadResult{}, fmt.Errorf("load generator's result: %w: %s", err, excerpt(stdout.Bytes()))
	}
	return res, nil
}

// LoadGeneratorMain runs the job LoadGenEnv holds, if any, writing its
// LoadResult to stdout and the error to stderr, and returns the exit code
// and true; without LoadGenEnv it returns false and does nothing.
func LoadGeneratorMain(ctx context.Context, stdout, stderr io.Writer) (code int, ran bool) {
	spec, ok := os.LookupEnv(LoadGenEnv)
	if !ok {
		return 0, false
	}
	if err := runLoadJob(ctx, spec, stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 1, true
	}
	return 0, true
}

func runLoadJob(ctx context.Context, spec string, stdout io.Writer) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(spec)))
	dec.DisallowUnknownFields()
	var job LoadJob
	if err := dec.Decode(&job); err != nil {
		return fmt.Errorf("%s: %w", LoadGenEnv, err)
	}
	res, err := job.Run(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

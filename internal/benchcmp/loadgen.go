package benchcmp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// LoadGenEnv is the environment variable that turns a binary which calls
// LoadGeneratorMain first (the benchmark's test binary) into a load
// generator: it holds the LoadJob to run, as JSON.
const LoadGenEnv = "KLAXON_LOADGEN"

// LoadJob is one phase of load on a webhook: the bodies Payloads(Prefix,
// Payloads) posted to URLs in turn (RoundRobin: one URL for one receiver,
// one per replica for several), either as fast as Clients senders can (closed
// loop) or at Rate per second (open loop), after WarmUp other posts from
// the same senders, whose time is not measured.
type LoadJob struct {
	URLs     []string `json:"urls"`
	Prefix   string   `json:"prefix"`
	Payloads int      `json:"payloads"`
	WarmUp   int      `json:"warm_up,omitempty"`
	Clients  int      `json:"clients,omitempty"`
	Rate     float64  `json:"rate,omitempty"`
}

// LoadResult is what a LoadJob measured: the closed loop's throughput, or
// the open loop's latency of each post.
type LoadResult struct {
	Throughput Throughput      `json:"throughput"`
	Latencies  []time.Duration `json:"latencies,omitempty"`
}

// warmedLine is what a load generator process writes once warmed up; it
// measures when it reads goLine.
const warmedLine, goLine = "warmed\n", "go\n"

func (j LoadJob) check() error {
	switch {
	case len(j.URLs) == 0 || slices.Contains(j.URLs, "") || j.Payloads <= 0:
		return fmt.Errorf("load job: want URLs and payloads, got %q and %d", j.URLs, j.Payloads)
	case (j.Clients > 0) == (j.Rate > 0):
		return fmt.Errorf("load job: want either clients (%d) or a rate (%v)", j.Clients, j.Rate)
	}
	return nil
}

// Run does the job from this process: the warm-up, then warmed (which may
// be nil), then the measured posts, all from one HTTP client.
func (j LoadJob) Run(ctx context.Context, warmed func() error) (LoadResult, error) {
	if err := j.check(); err != nil {
		return LoadResult{}, err
	}
	warm, err := bodies(j.Prefix+"-warm", j.WarmUp)
	if err != nil {
		return LoadResult{}, err
	}
	measured, err := bodies(j.Prefix, j.Payloads)
	if err != nil {
		return LoadResult{}, err
	}
	// Enough idle connections for every sender on any one URL.
	client := NewClient(max(j.Clients, 16) * len(j.URLs))
	defer client.CloseIdleConnections()
	if err := j.post(ctx, client, warm, nil); err != nil {
		return LoadResult{}, fmt.Errorf("warming up: %w", err)
	}
	if warmed != nil {
		if err := warmed(); err != nil {
			return LoadResult{}, err
		}
	}
	var res LoadResult
	err = j.post(ctx, client, measured, &res)
	return res, err
}

// post sends bodies as the job says, into res unless it is nil.
func (j LoadJob) post(ctx context.Context, client *http.Client, bodies [][]byte, res *LoadResult) error {
	if len(bodies) == 0 {
		return nil
	}
	if res == nil {
		res = &LoadResult{}
	}
	var err error
	if j.Clients > 0 {
		res.Throughput, err = MaxThroughput(ctx, client, j.URLs, bodies, j.Clients)
	} else {
		res.Latencies, err = OpenLoop(ctx, client, j.URLs, bodies, j.Rate)
	}
	if err != nil {
		return fmt.Errorf("posting to %s: %w", strings.Join(j.URLs, ", "), err)
	}
	return nil
}

// RunLoad does the job in a process of its own: this binary again, with
// LoadGenEnv set, which must call LoadGeneratorMain before anything else.
// Alertmanager never runs inside klaxon-receiver; a load generator in the
// measured process would share its Go scheduler, and hundreds of sender
// goroutines would queue ahead of the store's one committer at every turn,
// which no real sender can do. warmed (which may be nil) runs once the
// process has warmed up and before it measures. The process is killed if
// ctx ends.
func RunLoad(ctx context.Context, job LoadJob, warmed func() error) (LoadResult, error) {
	if err := job.check(); err != nil {
		return LoadResult{}, err
	}
	if _, ok := os.LookupEnv(LoadGenEnv); ok {
		return LoadResult{}, fmt.Errorf("load generator: %s is set in this process: its binary does not call LoadGeneratorMain", LoadGenEnv)
	}
	spec, err := json.Marshal(job)
	if err != nil {
		return LoadResult{}, fmt.Errorf("load job: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return LoadResult{}, fmt.Errorf("load generator: %w", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), LoadGenEnv+"="+string(spec))
	cmd.Stderr = &stderr
	res, err := converse(cmd, warmed)
	werr := cmd.Wait()
	var failed *warmedError
	switch {
	case errors.As(err, &failed):
		return LoadResult{}, failed.err
	case werr != nil:
		// The process's own account, on stderr, says more.
		err = werr
	}
	if err != nil {
		return LoadResult{}, fmt.Errorf("load generator: %w: %s", err, excerpt(stderr.Bytes()))
	}
	return res, nil
}

// converse starts cmd, waits for its warmedLine, runs warmed, tells it to
// go on and reads its result. The caller waits for cmd.
func converse(cmd *exec.Cmd, warmed func() error) (LoadResult, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return LoadResult{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return LoadResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return LoadResult{}, err
	}
	defer stdin.Close()
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil || line != warmedLine {
		_, _ = io.Copy(io.Discard, out)
		return LoadResult{}, fmt.Errorf("no %q from the process (got %q): %w", strings.TrimSpace(warmedLine), line, err)
	}
	if warmed != nil {
		if err := warmed(); err != nil {
			_ = cmd.Process.Kill()
			_, _ = io.Copy(io.Discard, out)
			return LoadResult{}, &warmedError{err}
		}
	}
	if _, err := io.WriteString(stdin, goLine); err != nil {
		return LoadResult{}, err
	}
	rest, err := io.ReadAll(out)
	if err != nil {
		return LoadResult{}, err
	}
	var res LoadResult
	if err := json.Unmarshal(rest, &res); err != nil {
		return LoadResult{}, fmt.Errorf("its result: %w: %s", err, excerpt(rest))
	}
	return res, nil
}

// warmedError is the error of RunLoad's warmed function.
type warmedError struct{ err error }

func (e *warmedError) Error() string { return e.err.Error() }

// LoadGeneratorMain runs the job LoadGenEnv holds, if any: it warms up,
// writes warmedLine to stdout, waits for goLine on stdin, measures, and
// writes its LoadResult to stdout as JSON and any error to stderr; it
// returns the exit code and true. Without LoadGenEnv it returns false and
// does nothing.
func LoadGeneratorMain(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) (code int, ran bool) {
	spec, ok := os.LookupEnv(LoadGenEnv)
	if !ok {
		return 0, false
	}
	if err := runLoadJob(ctx, spec, stdin, stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 1, true
	}
	return 0, true
}

func runLoadJob(ctx context.Context, spec string, stdin io.Reader, stdout io.Writer) error {
	dec := json.NewDecoder(strings.NewReader(spec))
	dec.DisallowUnknownFields()
	var job LoadJob
	if err := dec.Decode(&job); err != nil {
		return fmt.Errorf("%s: %w", LoadGenEnv, err)
	}
	res, err := job.Run(ctx, func() error {
		if _, err := io.WriteString(stdout, warmedLine); err != nil {
			return err
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil || line != goLine {
			return fmt.Errorf("waiting for %q on stdin, got %q: %w", strings.TrimSpace(goLine), line, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

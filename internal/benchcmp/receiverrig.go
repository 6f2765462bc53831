package benchcmp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
	"github.com/klaxonhq/klaxon/pkg/receiver"
	"github.com/klaxonhq/klaxon/runbooks"
)

// IngestRoute is the rig's route that delivers to no channel: what it
// measures is the webhook and the durable commit alone.
const IngestRoute = "ingest"

// batchMetric is the store's histogram of notifications per committed
// transaction: its sum counts every notification committed.
const batchMetric = "klaxon_receiver_store_ingest_batch_size"

// ReceiverRig is klaxon-receiver's real service (config, SQLite store with
// synchronous=FULL, webhook, delivery workers) in this process, served on
// loopback next to the DecodeOnly reference, with its PagerDuty channels
// pointed at a fake PagerDuty behind a Receipts recorder.
type ReceiverRig struct {
	// URL and ReferenceURL are the base URLs of the receiver and of the
	// reference handler.
	URL, ReferenceURL string
	// Teams are routes that deliver to one PagerDuty channel each, with a
	// routing key each: PagerDuty's limit is per routing key, and so is
	// the receiver's.
	Teams     []string
	Receipts  *Receipts
	PagerDuty *pagerdutytest.Server

	routingKeys []string
	svc         *receiver.Service
	reg         *prometheus.Registry
	servers     []*httptest.Server
	stop        context.CancelFunc
	delivered   chan error
	closeOnce   sync.Once
	closeErr    error
}

// StartReceiverRig writes a config with the ingest route and teams
// PagerDuty routes into dir, which also holds the store, and starts the
// rig. dir must be on the disk being measured: a tmpfs makes fsync free.
func StartReceiverRig(ctx context.Context, dir string, teams int, logger *slog.Logger) (*ReceiverRig, error) {
	r := &ReceiverRig{PagerDuty: pagerdutytest.NewServer(), delivered: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	upstream, err := r.startUpstream(logger)
	if err != nil {
		return nil, err
	}
	path, err := r.writeConfig(dir, upstream, teams)
	if err != nil {
		return nil, err
	}
	r.reg = prometheus.NewRegistry()
	r.svc, err = receiver.NewService(ctx, receiver.Options{ConfigFile: path, Runbooks: runbooks.FS, Registerer: r.reg, Logger: logger})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	if err := r.svc.Handler(mux); err != nil {
		return nil, err
	}
	r.URL = r.serve(mux)
	r.ReferenceURL = r.serve(DecodeOnly())
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	go func() { r.delivered <- r.svc.Deliverer.Run(runCtx) }()
	ok = true
	return r, nil
}

func (r *ReceiverRig) serve(h http.Handler) string {
	s := httptest.NewServer(h)
	r.servers = append(r.servers, s)
	return s.URL
}

// startUpstream serves Receipts in front of the fake PagerDuty and returns
// the enqueue URL the channels post to.
func (r *ReceiverRig) startUpstream(logger *slog.Logger) (string, error) {
	fake, err := url.Parse(r.PagerDuty.URL())
	if err != nil {
		return "", err
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: fake.Scheme, Host: fake.Host})
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 16}
	proxy.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelError)
	r.Receipts = NewReceipts(proxy)
	return r.serve(r.Receipts) + fake.Path, nil
}

func (r *ReceiverRig) writeConfig(dir, upstream string, teams int) (string, error) {
	var channels, routes strings.Builder
	fmt.Fprintf(&routes, "  - name: %s\n", IngestRoute)
	for i := range teams {
		key, err := routingKey()
		if err != nil {
			return "", err
		}
		team := fmt.Sprintf("team-%02d", i)
		fmt.Fprintf(&channels, "  - name: pd-%s\n    pagerduty:\n      routing_key: %s\n      url: %s\n", team, key, upstream)
		fmt.Fprintf(&routes, "  - name: %s\n    channels: [pd-%s]\n", team, team)
		r.Teams = append(r.Teams, team)
		r.routingKeys = append(r.routingKeys, key)
	}
	if channels.Len() == 0 {
		channels.WriteString("  []\n")
	}
	cfg := fmt.Sprintf("storage:\n  path: %s\nchannels:\n%sroutes:\n%s",
		filepath.Join(dir, "klaxon-receiver.db"), channels.String(), routes.String())
	path := filepath.Join(dir, "klaxon-receiver.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", fmt.Errorf("writing the receiver's config: %w", err)
	}
	return path, nil
}

// routingKey is a fresh 32-character PagerDuty routing key.
func routingKey() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// tmpfsMagic is the f_type statfs(2) gives for a tmpfs.
const tmpfsMagic = 0x01021994

// OnTmpfs reports whether dir is on a tmpfs, where the store's fsyncs cost
// nothing and its figures would flatter it.
func OnTmpfs(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == tmpfsMagic
}

// Webhook is the receiver's webhook URL for route.
func (r *ReceiverRig) Webhook(route string) string { return r.URL + "/webhook/" + route }

// Committed reads the store's own account of what it committed: the
// notifications and the transactions they took. It works after Close too,
// when the metrics that read the store fail but this one is kept.
func (r *ReceiverRig) Committed() (notifications, commits int, err error) {
	families, err := r.reg.Gather()
	for _, f := range families {
		if f.GetName() != batchMetric || len(f.GetMetric()) != 1 {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		return int(h.GetSampleSum()), int(h.GetSampleCount()), nil
	}
	return 0, 0, fmt.Errorf("the receiver's registry has no %s: %w", batchMetric, err)
}

// Close stops the servers and the delivery workers and closes the store.
// Calls after the first return the first's error.
func (r *ReceiverRig) Close() error {
	r.closeOnce.Do(func() { r.closeErr = r.close() })
	return r.closeErr
}

func (r *ReceiverRig) close() error {
	for _, s := range r.servers {
		s.Close()
	}
	var err error
	if r.stop != nil {
		r.stop()
		err = <-r.delivered
	}
	if r.svc != nil {
		err = errors.Join(err, r.svc.Close())
	}
	r.PagerDuty.Close()
	return err
}

// Plan sizes one round of Measure.
type Plan struct {
	// Clients are the numbers of senders of the throughput phase: at
	// each, Payloads are posted to the receiver and to the reference,
	// after WarmUp posts to each.
	Clients          []int
	Payloads, WarmUp int
	// InProcess runs the senders of the first two phases in this process
	// rather than in one of their own (RunLoad), as the benchmark did
	// before: a stricter comparison than any deployment makes.
	InProcess bool
	// AckRate is the offered load, in payloads per second, of the
	// acknowledgement-latency phase; AckPayloads are sent to each handler.
	AckRate     float64
	AckPayloads int
	// EndToEndRate is the offered load of the end-to-end phase, spread
	// over the rig's team routes; EndToEndPayloads are sent.
	EndToEndRate     float64
	EndToEndPayloads int
	// EndToEndWait bounds the wait for the last event to reach the fake.
	EndToEndWait time.Duration
}

// Measure runs one round: the throughput phase and the open-loop phase,
// whose senders run in a process of their own (RunLoad) unless the plan
// says InProcess, and the end-to-end phase, from client. Round numbers
// keep the rounds' alert groups apart and alternate which handler goes
// first.
func (r *ReceiverRig) Measure(ctx context.Context, client *http.Client, p Plan, round int) (ReceiverResult, error) {
	res := ReceiverResult{AckRate: p.AckRate, Teams: len(r.Teams)}
	for _, clients := range p.Clients {
		load, err := r.throughput(ctx, p, clients, round)
		if err != nil {
			return res, err
		}
		res.Loads = append(res.Loads, load)
		res.Accepted += p.WarmUp + p.Payloads
	}
	if err := r.ackLatency(ctx, p, round, &res); err != nil {
		return res, err
	}
	if err := r.endToEnd(ctx, client, p, round, &res); err != nil {
		return res, err
	}
	return res, nil
}

// target is one of the two handlers measured side by side.
type target struct {
	name string
	url  string
	// receiver: its posts are committed and counted.
	receiver bool
}

// targets are the receiver and the reference, the receiver first in even
// rounds.
func (r *ReceiverRig) targets(round int) []target {
	ts := []target{{"receiver", r.Webhook(IngestRoute), true}, {"reference", r.ReferenceURL + "/webhook/" + IngestRoute, false}}
	if round%2 == 1 {
		ts[0], ts[1] = ts[1], ts[0]
	}
	return ts
}

// load runs job as the plan says: in a process of its own or in this one.
func (p Plan) load(ctx context.Context, job LoadJob, warmed func() error) (LoadResult, error) {
	if p.InProcess {
		return job.Run(ctx, warmed)
	}
	return RunLoad(ctx, job, warmed)
}

// throughput posts as fast as clients senders can to each handler, and
// reads from the store how many transactions the receiver's part took.
func (r *ReceiverRig) throughput(ctx context.Context, p Plan, clients, round int) (Load, error) {
	load := Load{Clients: clients}
	for _, t := range r.targets(round) {
		var before, commitsBefore int
		warmed := func() (err error) {
			before, commitsBefore, err = r.Committed()
			runtime.GC()
			return err
		}
		job := LoadJob{URL: t.url, Prefix: fmt.Sprintf("r%d-c%d-%s", round, clients, t.name), Payloads: p.Payloads, WarmUp: p.WarmUp, Clients: clients}
		got, err := p.load(ctx, job, warmed)
		if err != nil {
			return load, fmt.Errorf("throughput of the %s, %d clients: %w", t.name, clients, err)
		}
		if !t.receiver {
			load.Reference = got.Throughput
			continue
		}
		after, commitsAfter, err := r.Committed()
		if err != nil {
			return load, err
		}
		load.Receiver = got.Throughput
		load.Batched, load.Commits = after-before, commitsAfter-commitsBefore
	}
	return load, nil
}

func (r *ReceiverRig) ackLatency(ctx context.Context, p Plan, round int, res *ReceiverResult) error {
	for _, t := range r.targets(round) {
		runtime.GC()
		job := LoadJob{URL: t.url, Prefix: fmt.Sprintf("r%d-%s-ack", round, t.name), Payloads: p.AckPayloads, Rate: p.AckRate}
		got, err := p.load(ctx, job, nil)
		if err != nil {
			return fmt.Errorf("acknowledgement latency of the %s: %w", t.name, err)
		}
		if t.receiver {
			res.ReceiverAck = got.Latencies
			res.Accepted += p.AckPayloads
		} else {
			res.ReferenceAck = got.Latencies
		}
	}
	return nil
}

func (r *ReceiverRig) endToEnd(ctx context.Context, client *http.Client, p Plan, round int, res *ReceiverResult) error {
	if p.EndToEndPayloads == 0 {
		return nil
	}
	if len(r.Teams) == 0 {
		return errors.New("end-to-end: the rig has no team routes")
	}
	payloads, err := Payloads(fmt.Sprintf("r%d-e2e", round), p.EndToEndPayloads)
	if err != nil {
		return err
	}
	deliveries := make([]Delivery, len(payloads))
	for i, pl := range payloads {
		route := r.Teams[i%len(r.Teams)]
		deliveries[i] = Delivery{URL: r.Webhook(route), Body: pl.Body, Key: alert.IncidentKey(route, pl.GroupKey)}
	}
	runtime.GC()
	ctx, cancel := context.WithTimeout(ctx, p.EndToEndWait)
	defer cancel()
	got, err := EndToEnd(ctx, client, deliveries, p.EndToEndRate, r.Receipts)
	if err != nil {
		return fmt.Errorf("end to end: %w", err)
	}
	res.EndToEnd = got
	res.Accepted += len(deliveries)
	return nil
}

func bodies(prefix string, n int) ([][]byte, error) {
	payloads, err := Payloads(prefix, n)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	for i, p := range payloads {
		out[i] = p.Body
	}
	return out, nil
}

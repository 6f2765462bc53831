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
	r.svc, err = receiver.NewService(ctx, path, r.reg, logger)
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
	// Clients post at once in the throughput phase, Payloads each to the
	// receiver and to the reference, after WarmUp posts to each.
	Clients, Payloads, WarmUp int
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

// Measure runs one round: the throughput phase, the open-loop phase and the
// end-to-end phase. Round numbers keep the rounds' alert groups apart and
// alternate which handler goes first.
func (r *ReceiverRig) Measure(ctx context.Context, client *http.Client, p Plan, round int) (ReceiverResult, error) {
	res := ReceiverResult{Clients: p.Clients, AckRate: p.AckRate, Teams: len(r.Teams)}
	if err := r.throughput(ctx, client, p, round, &res); err != nil {
		return res, err
	}
	if err := r.ackLatency(ctx, client, p, round, &res); err != nil {
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

func (r *ReceiverRig) throughput(ctx context.Context, client *http.Client, p Plan, round int, res *ReceiverResult) error {
	for _, t := range r.targets(round) {
		warm, err := bodies(fmt.Sprintf("r%d-%s-warm", round, t.name), p.WarmUp)
		if err != nil {
			return err
		}
		if _, err := MaxThroughput(ctx, client, t.url, warm, p.Clients); err != nil {
			return fmt.Errorf("warming up the %s: %w", t.name, err)
		}
		measured, err := bodies(fmt.Sprintf("r%d-%s-max", round, t.name), p.Payloads)
		if err != nil {
			return err
		}
		before, commitsBefore, err := r.Committed()
		if err != nil {
			return err
		}
		runtime.GC()
		got, err := MaxThroughput(ctx, client, t.url, measured, p.Clients)
		if err != nil {
			return fmt.Errorf("throughput of the %s: %w", t.name, err)
		}
		if !t.receiver {
			res.Reference = got
			continue
		}
		after, commitsAfter, err := r.Committed()
		if err != nil {
			return err
		}
		res.Receiver = got
		res.Batched, res.Commits = after-before, commitsAfter-commitsBefore
		res.Accepted += p.WarmUp + p.Payloads
	}
	return nil
}

func (r *ReceiverRig) ackLatency(ctx context.Context, client *http.Client, p Plan, round int, res *ReceiverResult) error {
	for _, t := range r.targets(round) {
		sent, err := bodies(fmt.Sprintf("r%d-%s-ack", round, t.name), p.AckPayloads)
		if err != nil {
			return err
		}
		runtime.GC()
		got, err := OpenLoop(ctx, client, t.url, sent, p.AckRate)
		if err != nil {
			return fmt.Errorf("acknowledgement latency of the %s: %w", t.name, err)
		}
		if t.receiver {
			res.ReceiverAck = got
			res.Accepted += p.AckPayloads
		} else {
			res.ReferenceAck = got
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

package benchcmp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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

// ReceiverRig is klaxon-receiver's real service (config, store, webhook,
// delivery workers) in this process, one or more replicas of it on one
// store, each served on loopback, next to the DecodeOnly reference, with
// their PagerDuty channels pointed at a fake PagerDuty behind a Receipts
// recorder. The store is SQLite with synchronous=FULL, or a PostgreSQL
// database the replicas share.
type ReceiverRig struct {
	// URL and ReferenceURL are the base URLs of the (first) receiver and
	// of the reference handler.
	URL, ReferenceURL string
	// URLs are the base URLs of every receiver, URL first.
	URLs []string
	// Teams are routes that deliver to one PagerDuty channel each, with a
	// routing key each: PagerDuty's limit is per routing key, and so is
	// the receiver's.
	Teams     []string
	Receipts  *Receipts
	PagerDuty *pagerdutytest.Server

	routingKeys []string
	replicas    []*replica
	servers     []*httptest.Server
	closeOnce   sync.Once
	closeErr    error
}

// replica is one receiver of a rig.
type replica struct {
	svc       *receiver.Service
	reg       *prometheus.Registry
	stop      context.CancelFunc
	delivered chan error
}

// RigOptions say what StartRig starts.
type RigOptions struct {
	// Teams is the number of PagerDuty routes (see ReceiverRig.Teams).
	Teams int
	// Postgres, when not "", is the DSN of the PostgreSQL database the
	// receivers keep their state in; otherwise the receiver keeps it in
	// SQLite in the rig's directory.
	Postgres string
	// Replicas is the number of receivers on the one store; 0 is 1. More
	// than one need Postgres.
	Replicas int
}

// StartReceiverRig starts a rig of one receiver on SQLite with teams
// PagerDuty routes (StartRig).
func StartReceiverRig(ctx context.Context, dir string, teams int, logger *slog.Logger) (*ReceiverRig, error) {
	return StartRig(ctx, dir, RigOptions{Teams: teams}, logger)
}

// StartRig writes a config with the ingest route and o.Teams PagerDuty
// routes into dir, which also holds the store if it is SQLite, and starts
// the rig. A SQLite store's dir must be on the disk being measured: a
// tmpfs makes fsync free.
func StartRig(ctx context.Context, dir string, o RigOptions, logger *slog.Logger) (*ReceiverRig, error) {
	replicas := max(o.Replicas, 1)
	if replicas > 1 && o.Postgres == "" {
		return nil, fmt.Errorf("%d receivers on SQLite: replicas need a PostgreSQL store", replicas)
	}
	r := &ReceiverRig{PagerDuty: pagerdutytest.NewServer()}
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
	path, err := r.writeConfig(dir, upstream, o)
	if err != nil {
		return nil, err
	}
	for i := range replicas {
		if err := r.startReplica(ctx, path, logger); err != nil {
			return nil, fmt.Errorf("receiver %d of %d: %w", i+1, replicas, err)
		}
	}
	r.URL = r.URLs[0]
	r.ReferenceURL = r.serve(DecodeOnly())
	ok = true
	return r, nil
}

// startReplica starts one receiver from the config at path, serves it and
// runs its delivery workers.
func (r *ReceiverRig) startReplica(ctx context.Context, path string, logger *slog.Logger) error {
	rep := &replica{reg: prometheus.NewRegistry(), delivered: make(chan error, 1)}
	svc, err := receiver.NewService(ctx, receiver.Options{ConfigFile: path, Runbooks: runbooks.FS, Registerer: rep.reg, Logger: logger})
	if err != nil {
		return err
	}
	rep.svc = svc
	r.replicas = append(r.replicas, rep)
	if svc.Deliverer == nil {
		return fmt.Errorf("the store did not open: %w", svc.Ready())
	}
	mux := http.NewServeMux()
	if err := svc.Handler(mux); err != nil {
		return err
	}
	r.URLs = append(r.URLs, r.serve(mux))
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	rep.stop = stop
	go func() { rep.delivered <- svc.Deliverer.Run(runCtx) }()
	return nil
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

func (r *ReceiverRig) writeConfig(dir, upstream string, o RigOptions) (string, error) {
	var channels, routes strings.Builder
	fmt.Fprintf(&routes, "  - name: %s\n", IngestRoute)
	for i := range o.Teams {
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
	cfg := fmt.Sprintf("storage:\n%schannels:\n%sroutes:\n%s", storage(dir, o), channels.String(), routes.String())
	path := filepath.Join(dir, "klaxon-receiver.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", fmt.Errorf("writing the receiver's config: %w", err)
	}
	return path, nil
}

// storage is the body of the config's storage section: a SQLite file in
// dir, or o's PostgreSQL database with the default pool.
func storage(dir string, o RigOptions) string {
	if o.Postgres == "" {
		return fmt.Sprintf("  path: %s\n", filepath.Join(dir, "klaxon-receiver.db"))
	}
	// A JSON string is a YAML double-quoted scalar.
	dsn, _ := json.Marshal(o.Postgres)
	return fmt.Sprintf("  postgres:\n    dsn: %s\n", dsn)
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

// Webhook is the (first) receiver's webhook URL for route.
func (r *ReceiverRig) Webhook(route string) string { return r.URL + "/webhook/" + route }

// Webhooks are every receiver's webhook URLs for route, Webhook(route)
// first.
func (r *ReceiverRig) Webhooks(route string) []string {
	out := make([]string, len(r.URLs))
	for i, u := range r.URLs {
		out[i] = u + "/webhook/" + route
	}
	return out
}

// Committed reads the store's own account of what the rig's receivers
// committed, summed over them: the notifications and the transactions
// they took. It works after Close too, when the metrics that read the
// store fail but this one is kept.
func (r *ReceiverRig) Committed() (notifications, commits int, err error) {
	for i, rep := range r.replicas {
		n, c, err := rep.committed()
		if err != nil {
			return 0, 0, fmt.Errorf("receiver %d: %w", i+1, err)
		}
		notifications += n
		commits += c
	}
	return notifications, commits, nil
}

func (rep *replica) committed() (notifications, commits int, err error) {
	families, err := rep.reg.Gather()
	for _, f := range families {
		if f.GetName() != batchMetric || len(f.GetMetric()) != 1 {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		return int(h.GetSampleSum()), int(h.GetSampleCount()), nil
	}
	return 0, 0, fmt.Errorf("the receiver's registry has no %s: %w", batchMetric, err)
}

// Close stops the servers and the delivery workers and closes the stores.
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
	for _, rep := range r.replicas {
		if rep.stop != nil {
			rep.stop()
			err = errors.Join(err, <-rep.delivered)
		}
		err = errors.Join(err, rep.svc.Close())
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

// Measure runs one round of MeasureVariants on the receivers and the
// reference, and gives the figures as the receiver against the
// reference. Round numbers keep the rounds' alert groups apart and
// alternate which handler goes first.
func (r *ReceiverRig) Measure(ctx context.Context, client *http.Client, p Plan, round int) (ReceiverResult, error) {
	res := ReceiverResult{AckRate: p.AckRate, Teams: len(r.Teams)}
	c, err := MeasureVariants(ctx, client, p, []Variant{r.Variant("receiver"), r.Reference("reference")}, round)
	if err != nil {
		return res, err
	}
	rec, ref := c.Variants[0], c.Variants[1]
	for i, l := range rec.Loads {
		res.Loads = append(res.Loads, Load{Clients: l.Clients, Receiver: l.Throughput, Reference: ref.Loads[i].Throughput, Batched: l.Batched, Commits: l.Commits})
	}
	res.ReceiverAck, res.ReferenceAck, res.EndToEnd, res.Accepted = rec.Ack, ref.Ack, rec.EndToEnd, rec.Accepted
	return res, nil
}

// Variant is the rig's receivers, named name, as a variant of a
// comparison: posts go to each receiver's ingest route in turn.
func (r *ReceiverRig) Variant(name string) Variant {
	return Variant{Name: name, URLs: r.Webhooks(IngestRoute), Rig: r}
}

// Reference is the rig's decode-only handler, named name, as a variant of
// a comparison.
func (r *ReceiverRig) Reference(name string) Variant {
	return Variant{Name: name, URLs: []string{r.ReferenceURL + "/webhook/" + IngestRoute}}
}

// load runs job as the plan says: in a process of its own or in this one.
func (p Plan) load(ctx context.Context, job LoadJob, warmed func() error) (LoadResult, error) {
	if p.InProcess {
		return job.Run(ctx, warmed)
	}
	return RunLoad(ctx, job, warmed)
}

// endToEnd posts p.EndToEndPayloads over the team routes, to each
// receiver in turn, and times each from its POST to its event's arrival
// at the fake PagerDuty. prefix names the alert groups.
func (r *ReceiverRig) endToEnd(ctx context.Context, client *http.Client, p Plan, prefix string) ([]time.Duration, error) {
	if len(r.Teams) == 0 {
		return nil, errors.New("end-to-end: the rig has no team routes")
	}
	payloads, err := Payloads(prefix, p.EndToEndPayloads)
	if err != nil {
		return nil, err
	}
	deliveries := make([]Delivery, len(payloads))
	for i, pl := range payloads {
		route := r.Teams[i%len(r.Teams)]
		deliveries[i] = Delivery{URL: RoundRobin(r.Webhooks(route), i), Body: pl.Body, Key: alert.IncidentKey(route, pl.GroupKey)}
	}
	runtime.GC()
	ctx, cancel := context.WithTimeout(ctx, p.EndToEndWait)
	defer cancel()
	got, err := EndToEnd(ctx, client, deliveries, p.EndToEndRate, r.Receipts)
	if err != nil {
		return nil, fmt.Errorf("end to end: %w", err)
	}
	return got, nil
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

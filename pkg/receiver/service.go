// Package receiver wires klaxon-receiver together: it loads the config,
// opens the store and builds, once each and in order, the delivery
// workers, the incident manager, the API, the status page and the runbook
// pages, and serves them. Each behaviour lives in its own package (see
// docs/architecture.md); this one only connects them.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/api"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/reload"
	"github.com/klaxonhq/klaxon/pkg/runbook"
	"github.com/klaxonhq/klaxon/pkg/storage"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// Options are what a Service is made from.
type Options struct {
	// ConfigFile is the config's path; "" is the built-in config.
	ConfigFile string
	// Runbooks are the runbook pages served under the runbook base.
	Runbooks   fs.FS
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Service runs a receiver: the store, the delivery workers, the incident
// manager and the HTTP handlers, with the config reloadable. A store that
// is unavailable at start (a read-only disk, a database server down) does
// not stop it: it serves, answering 503 where the store is needed, until
// Run has opened the store and built what runs on it.
type Service struct {
	// Config holds the config in force; a reload replaces it.
	Config *reload.Reloader[*receiverconfig.Runtime]
	// Store, Deliverer and Incidents are set once the store is open: by
	// NewService, or by Run when the store was unavailable at start.
	Store     storage.Store
	Deliverer *deliver.Deliverer
	Incidents *incident.Manager
	webhook   *api.Webhook
	// stored serves the endpoints that need the store, once it is open.
	stored atomic.Pointer[http.ServeMux]
	// down is why the store is not open, while it is not.
	down atomic.Pointer[error]
	// built is held while what runs on the store is built, and by a
	// reload that has it follow the config.
	built sync.Mutex

	storage  receiverconfig.Storage
	reg      prometheus.Registerer
	watch    func(incident.Waker) incident.Waker
	runbooks fs.FS
	logger   *slog.Logger
}

// NewService loads the config, opens the store and builds the workers. The
// storage path is read once: changing it takes a restart. When the store
// is unavailable (the error wraps store.ErrUnavailable), NewService
// returns the Service all the same and Run opens the store; any other
// failure to open it is NewService's error.
func NewService(ctx context.Context, opts Options) (*Service, error) {
	return newService(ctx, opts, nil)
}

// newService is NewService whose incident manager wakes the delivery
// workers through watch(wake) when watch is set: tests count the wakes.
func newService(ctx context.Context, opts Options, watch func(incident.Waker) incident.Waker) (*Service, error) {
	logger := opts.Logger
	current, err := reload.New(func() (*receiverconfig.Runtime, error) { return receiverconfig.Load(opts.ConfigFile, logger) }, opts.Registerer, "receiver", logger)
	if err != nil {
		return nil, err
	}
	s := &Service{Config: current, storage: current.Get().Config.Storage, reg: opts.Registerer, watch: watch, runbooks: opts.Runbooks, logger: logger}
	current.OnReload(s.follow)
	if err := s.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "klaxon_receiver_store_writable",
		Help: "1 while the store is open and takes the delivery workers' claims (a write at least every second), 0 while it is out of reach, read-only or full: notifications are then refused with 503.",
	}, s.storeWritable)); err != nil {
		return nil, fmt.Errorf("registering the store metrics: %w", err)
	}
	if err := s.open(ctx); err != nil {
		if !errors.Is(err, store.ErrUnavailable) {
			return nil, err
		}
		logger.Error("store unavailable; answering 503 until it opens", "err", err)
	}
	return s, nil
}

// open opens the store and builds what runs on it. While it fails, Ready
// says why.
func (s *Service) open(ctx context.Context) error {
	st, err := storage.Open(ctx, s.storage, storage.Options{Registerer: s.reg, Logger: s.logger})
	if err != nil {
		err = fmt.Errorf("opening the store: %w", err)
		s.down.Store(&err)
		return err
	}
	if err := s.build(st); err != nil {
		_ = st.Close()
		return err
	}
	s.down.Store(nil)
	return nil
}

// build makes what runs on the store st: the incident manager, which
// wakes the delivery workers when it adds deliveries, the workers, which
// have it ready each message they send, and the endpoints that use them.
func (s *Service) build(st storage.Store) error {
	s.built.Lock()
	defer s.built.Unlock()
	rt := s.Config.Get()
	wake := deliver.NewWake()
	var waker incident.Waker = wake
	if s.watch != nil {
		waker = s.watch(wake)
	}
	incidents, err := incident.New(st, s.Config, waker, s.reg, s.logger)
	if err != nil {
		return err
	}
	// A store that replicas share paces their sends together.
	pacer, _ := st.(store.Pacer)
	deliverer := deliver.New(st, rt.Channels, deliver.Options{
		Pacer:    pacer,
		MaxAge:   rt.Config.Global.DeadLetterAfter,
		Lease:    rt.Config.Storage.TakeoverAfter,
		Preparer: incidents,
		Wake:     wake,
	}, s.reg, s.logger)
	if err := s.reg.Register(newOnCallCollector(s.Config)); err != nil {
		return fmt.Errorf("registering the on-call metrics: %w", err)
	}
	webhook := api.NewWebhook(s.Config, incidents, deliverer, s.reg, s.logger)
	mux, err := s.storedMux(rt, st, incidents, webhook)
	if err != nil {
		return err
	}
	s.Store, s.Incidents, s.Deliverer, s.webhook = st, incidents, deliverer, webhook
	s.stored.Store(mux)
	return nil
}

// storedMux serves the endpoints that need the store: the webhook, the
// API and the status page.
func (s *Service) storedMux(rt *receiverconfig.Runtime, st storage.Store, incidents *incident.Manager, webhook *api.Webhook) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.Handle("POST /webhook/{route}", webhook)
	api.NewIncidentsAPI(s.Config, incidents, s.logger).Register(mux)
	mux.Handle("GET /api/v1/oncall", api.NewOnCallAPI(s.Config, s.logger))
	ext, err := rt.Config.ExternalURL()
	if err != nil {
		return nil, err
	}
	status, err := NewStatusPage(s.Config, st, incidents, StatusOptions{Logger: s.logger})
	if err != nil {
		return nil, fmt.Errorf("status page: %w", err)
	}
	// Only the paths the page serves, so that a wrong method on the
	// webhook still gets 405 rather than the page's 404.
	for _, path := range []string{"{$}", "incidents/", "ack/"} {
		mux.Handle(ext.Path+path, status)
	}
	return mux, nil
}

// follow makes the channels and the per-route metrics follow a reloaded
// config. Before the store is open there is nothing to follow: build
// takes the config in force.
func (s *Service) follow(rt *receiverconfig.Runtime) {
	s.built.Lock()
	defer s.built.Unlock()
	if s.Deliverer == nil {
		return
	}
	s.Deliverer.SetChannels(rt.Channels)
	s.Incidents.SetRoutes(rt.Config)
	s.webhook.SetRoutes(rt.Config)
}

// storeWritable is klaxon_receiver_store_writable's value.
func (s *Service) storeWritable() float64 {
	if s.down.Load() != nil {
		return 0
	}
	s.built.Lock()
	d := s.Deliverer
	s.built.Unlock()
	if d == nil || !d.StoreWritable() {
		return 0
	}
	return 1
}

// Ready says why the receiver cannot take notifications, or nil once its
// store is open.
func (s *Service) Ready() error {
	if err := s.down.Load(); err != nil {
		return *err
	}
	return nil
}

// Handler registers the receiver's HTTP endpoints on mux. The runbook
// pages and /-/reload need no store; the webhook, the API and the status
// page answer 503 while the store is not open.
func (s *Service) Handler(mux *http.ServeMux) error {
	ext, err := s.Config.Get().Config.ExternalURL()
	if err != nil {
		return err
	}
	prefix := runbook.DefaultBase(ext).Path
	rb, err := runbook.NewHandler(s.runbooks, prefix, s.logger)
	if err != nil {
		return fmt.Errorf("runbook pages: %w", err)
	}
	mux.Handle(prefix, rb)
	mux.Handle("/-/reload", s.Config.Handler())
	mux.HandleFunc("/", s.serveStored)
	return nil
}

// serveStored serves r with the endpoints that need the store, or answers
// 503, so that Alertmanager retries, while it is not open. The webhook
// and the API check the caller's bearer token first.
func (s *Service) serveStored(w http.ResponseWriter, r *http.Request) {
	if mux := s.stored.Load(); mux != nil {
		mux.ServeHTTP(w, r)
		return
	}
	if guarded(r) && api.Refuse(s.Config.Get().Config, w, r, s.logger) {
		return
	}
	unavailable(w, r, s.Ready().Error())
}

// Run opens the store if it was unavailable at start (see awaitStore),
// then delivers and escalates until ctx is done, and returns once both
// have stopped. Its error is a failure to open the store other than its
// being unavailable, or to build what runs on it.
func (s *Service) Run(ctx context.Context) error {
	if s.stored.Load() == nil {
		if err := s.awaitStore(ctx); err != nil || ctx.Err() != nil {
			return err
		}
	}
	escalated := make(chan struct{})
	go func() {
		defer close(escalated)
		_ = s.Incidents.Run(ctx)
	}()
	_ = s.Deliverer.Run(ctx)
	<-escalated
	return nil
}

// Close closes the store, if it was opened. Call it once Run has returned.
func (s *Service) Close() error {
	if s.Store == nil {
		return nil
	}
	return s.Store.Close()
}

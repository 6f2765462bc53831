// Package receiver wires klaxon-receiver together: it loads the config,
// opens the store and builds, once each and in order, the delivery
// workers, the incident manager, the API, the status page and the runbook
// pages, and serves them. Each behaviour lives in its own package (see
// docs/architecture.md); this one only connects them.
package receiver

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"

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
// manager and the HTTP handlers, with the config reloadable.
type Service struct {
	// Config holds the config in force; a reload replaces it.
	Config    *reload.Reloader[*receiverconfig.Runtime]
	Store     storage.Store
	Deliverer *deliver.Deliverer
	Incidents *incident.Manager
	webhook   *api.Webhook
	runbooks  fs.FS
	logger    *slog.Logger
}

// NewService loads the config, opens the store and builds the workers. The
// storage path is read once: changing it takes a restart.
func NewService(ctx context.Context, opts Options) (*Service, error) {
	return newService(ctx, opts, nil)
}

// newService is NewService whose incident manager wakes the delivery
// workers through watch(wake) when watch is set: tests count the wakes.
func newService(ctx context.Context, opts Options, watch func(incident.Waker) incident.Waker) (*Service, error) {
	logger, reg := opts.Logger, opts.Registerer
	current, err := reload.New(func() (*receiverconfig.Runtime, error) { return receiverconfig.Load(opts.ConfigFile, logger) }, reg, "receiver", logger)
	if err != nil {
		return nil, err
	}
	rt := current.Get()
	st, err := storage.Open(ctx, rt.Config.Storage, storage.Options{Registerer: reg, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	s := &Service{Config: current, Store: st, runbooks: opts.Runbooks, logger: logger}
	if err := s.build(reg, watch); err != nil {
		_ = st.Close()
		return nil, err
	}
	current.OnReload(s.follow)
	return s, nil
}

// build makes what runs on the store: the incident manager, which wakes
// the delivery workers when it adds deliveries, and the workers, which
// have it ready each message they send.
func (s *Service) build(reg prometheus.Registerer, watch func(incident.Waker) incident.Waker) error {
	rt := s.Config.Get()
	wake := deliver.NewWake()
	var waker incident.Waker = wake
	if watch != nil {
		waker = watch(wake)
	}
	var err error
	if s.Incidents, err = incident.New(s.Store, s.Config, waker, reg, s.logger); err != nil {
		return err
	}
	// A store that replicas share paces their sends together.
	pacer, _ := s.Store.(store.Pacer)
	s.Deliverer = deliver.New(s.Store, rt.Channels, deliver.Options{
		Pacer:    pacer,
		MaxAge:   rt.Config.Global.DeadLetterAfter,
		Lease:    rt.Config.Storage.TakeoverAfter,
		Preparer: s.Incidents,
		Wake:     wake,
	}, reg, s.logger)
	if err := reg.Register(newOnCallCollector(s.Config)); err != nil {
		return fmt.Errorf("registering the on-call metrics: %w", err)
	}
	s.webhook = api.NewWebhook(s.Config, s.Incidents, s.Deliverer, reg, s.logger)
	return nil
}

// follow makes the channels and the per-route metrics follow a reloaded
// config.
func (s *Service) follow(rt *receiverconfig.Runtime) {
	s.Deliverer.SetChannels(rt.Channels)
	s.Incidents.SetRoutes(rt.Config)
	s.webhook.SetRoutes(rt.Config)
}

// Handler returns the receiver's HTTP endpoints under mux.
func (s *Service) Handler(mux *http.ServeMux) error {
	mux.Handle("POST /webhook/{route}", s.webhook)
	api.NewIncidentsAPI(s.Config, s.Incidents, s.logger).Register(mux)
	mux.Handle("GET /api/v1/oncall", api.NewOnCallAPI(s.Config, s.logger))
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
	status, err := NewStatusPage(s.Config, s.Store, s.Incidents, StatusOptions{Logger: s.logger})
	if err != nil {
		return fmt.Errorf("status page: %w", err)
	}
	// Only the paths the page serves, so that a wrong method on the
	// webhook still gets 405 rather than the page's 404.
	for _, path := range []string{"{$}", "incidents/", "ack/"} {
		mux.Handle(ext.Path+path, status)
	}
	return nil
}

// Run delivers and escalates until ctx is done, and returns once both
// have stopped.
func (s *Service) Run(ctx context.Context) {
	escalated := make(chan struct{})
	go func() {
		defer close(escalated)
		_ = s.Incidents.Run(ctx)
	}()
	_ = s.Deliverer.Run(ctx)
	<-escalated
}

// Close closes the store.
func (s *Service) Close() error { return s.Store.Close() }

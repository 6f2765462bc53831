// Package receiver is klaxon-receiver's application: its config, the
// webhook that takes Alertmanager's notifications, and the wiring of the
// store, the delivery workers, the notifiers and the HTTP endpoints.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/oncall"
	"github.com/klaxonhq/klaxon/pkg/reload"
	"github.com/klaxonhq/klaxon/pkg/runbook"
	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
	"github.com/klaxonhq/klaxon/runbooks"
)

// Runtime is a loaded config with what is built from it: its notifiers,
// its runbook resolver and its users and schedules. A reload replaces it
// whole.
type Runtime struct {
	Config   *Config
	Channels map[string]deliver.Channel
	Runbooks runbook.Resolver
	// Roster holds the compiled users and schedules and answers
	// escalation's questions about them.
	Roster *Roster
	// Now is the clock that on-call questions are asked at: mentions at
	// send time, the on-call API and metrics (default time.Now).
	Now    func() time.Time
	logger *slog.Logger
}

// Build makes a Runtime from a config: it renders templates and builds
// every channel's notifier, so that a config that cannot work is refused
// at load time.
func Build(cfg *Config, logger *slog.Logger) (*Runtime, error) {
	tmpl, err := notify.NewTemplate(cfg.Templates)
	if err != nil {
		return nil, err
	}
	base, err := cfg.RunbookBase()
	if err != nil {
		return nil, err
	}
	dir, schedules, err := oncall.Compile(cfg.Users, cfg.Schedules)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{
		Config: cfg, Channels: map[string]deliver.Channel{}, Runbooks: runbook.Resolver{Base: base},
		Roster: &Roster{Directory: dir, Schedules: schedules}, Now: time.Now, logger: logger,
	}
	client := &http.Client{Timeout: time.Minute, Transport: upstreamTransport()}
	for i := range cfg.Channels {
		ch := &cfg.Channels[i]
		n, limit, err := ch.Notifier(notify.Options{Template: tmpl, Client: client, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("channel %q: %w", ch.Name, err)
		}
		rt.Channels[ch.Name] = deliver.Channel{Notifier: n, Limit: limit, Kind: ch.Integration}
	}
	return rt, nil
}

// upstreamTransport keeps as many idle connections to an upstream as
// delivery workers may use at once; the default of two would make the
// others dial a new TLS connection for every message under load.
func upstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 2 * deliver.DefaultWorkers
	return t
}

// Load reads a config file, or the built-in default when path is "", and
// builds it.
func Load(path string, logger *slog.Logger) (*Runtime, error) {
	cfg, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return Build(cfg, logger)
}

func readConfig(path string) (*Config, error) {
	if path == "" {
		return BuiltIn()
	}
	return LoadFile(path)
}

// Service runs a receiver: the store, the delivery workers and the HTTP
// handlers, with the config reloadable.
type Service struct {
	Runtime   *reload.Reloader[*Runtime]
	Store     store.Store
	Deliverer *deliver.Deliverer
	// Escalator runs the incidents' escalations.
	Escalator *Escalator
	logger    *slog.Logger
	reg       prometheus.Registerer

	// mu guards webhook and routes: a reload may come while Handler
	// builds the webhook.
	mu      sync.Mutex
	webhook *Webhook
	// routes is the config last loaded, whose routes the per-route
	// metrics follow.
	routes *Config
}

// NewService loads the config, opens the store and builds the workers. The
// storage path is read once: changing it takes a restart.
func NewService(ctx context.Context, configFile string, reg prometheus.Registerer, logger *slog.Logger) (*Service, error) {
	s := &Service{logger: logger, reg: reg}
	load := func() (*Runtime, error) {
		rt, err := Load(configFile, logger)
		if err != nil {
			return nil, err
		}
		if s.Deliverer != nil {
			s.Deliverer.SetChannels(rt.Channels)
		}
		s.setRoutes(rt.Config)
		return rt, nil
	}
	rt, err := reload.New(load, reg, "receiver", logger)
	if err != nil {
		return nil, err
	}
	cfg := rt.Get().Config
	st, err := sqlite.Open(ctx, cfg.Storage.Path, sqlite.Options{Registerer: reg, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	s.Runtime, s.Store = rt, st
	s.Deliverer = deliver.New(st, rt.Get().Channels, deliver.Options{
		MaxAge:  cfg.Global.DeadLetterAfter,
		Prepare: func(n *notify.Notification) { rt.Get().Prepare(n) },
	}, reg, logger)
	if err := reg.Register(NewOnCallCollector(rt.Get)); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("registering the on-call metrics: %w", err)
	}
	if s.Escalator, err = NewEscalator(rt.Get, st, s.Deliverer.Wake, reg, logger); err != nil {
		_ = st.Close()
		return nil, err
	}
	return s, nil
}

// setRoutes makes the per-route metrics follow cfg's routes.
func (s *Service) setRoutes(cfg *Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes = cfg
	if s.Escalator != nil {
		s.Escalator.setRoutes(cfg)
	}
	if s.webhook != nil {
		s.webhook.setRoutes(cfg)
	}
}

// Config returns the config in force.
func (s *Service) Config() *Config { return s.Runtime.Get().Config }

// Handler returns the receiver's HTTP endpoints under mux.
func (s *Service) Handler(mux *http.ServeMux) error {
	wh := NewWebhook(s.Config, s.Store, s.Deliverer.Wake, s.reg, s.logger)
	wh.escalate = func(route *Route, msg *alert.Message) func(*store.Escalation) (*store.EscalationChange, error) {
		return s.Runtime.Get().ingestHook(route, msg)
	}
	s.mu.Lock()
	s.webhook = wh
	// A reload may have loaded a config that is not in force yet.
	wh.setRoutes(s.routes)
	s.mu.Unlock()
	mux.Handle("POST /webhook/{route}", wh)
	NewIncidentsAPI(s.Config, s.Escalator, s.logger).Register(mux)
	mux.Handle("GET /api/v1/oncall", NewOnCallAPI(s.Runtime.Get, s.logger))
	ext, err := s.Config().ExternalURL()
	if err != nil {
		return err
	}
	prefix := runbook.DefaultBase(ext).Path
	rb, err := runbook.NewHandler(runbooks.FS, prefix, s.logger)
	if err != nil {
		return fmt.Errorf("runbook pages: %w", err)
	}
	mux.Handle(prefix, rb)
	mux.Handle("/-/reload", s.Runtime.Handler())
	esc, ok := s.Store.(store.Escalations)
	if !ok {
		return errors.New("status page: the store keeps no escalations")
	}
	status, err := NewStatusPage(s.Runtime.Get, esc, s, StatusOptions{Logger: s.logger})
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

// RunEscalations pages due escalation levels every EscalationTick until
// ctx is done; run it beside Deliverer.Run.
func (s *Service) RunEscalations(ctx context.Context) error { return s.Escalator.Run(ctx) }

// Acknowledge stops an incident's escalation on behalf of by; see
// Escalator.Acknowledge.
func (s *Service) Acknowledge(ctx context.Context, id, by string) (Acknowledgement, error) {
	return s.Escalator.Acknowledge(ctx, id, by)
}

// Resolve ends an incident's escalation by hand: nobody is paged for it
// any more. It does not resolve the alerts in Alertmanager. See
// Escalator.Resolve.
func (s *Service) Resolve(ctx context.Context, id, by string) (string, error) {
	return s.Escalator.Resolve(ctx, id, by)
}

// Close closes the store.
func (s *Service) Close() error { return s.Store.Close() }

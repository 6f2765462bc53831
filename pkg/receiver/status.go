package receiver

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/klaxonhq/klaxon/pkg/api"
	"github.com/klaxonhq/klaxon/pkg/incident"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/statuspage"
)

// Incidents are the incidents the status page shows and acknowledges:
// the incident package's Manager.
type Incidents interface {
	Incidents(ctx context.Context) ([]incident.Incident, error)
	AcknowledgeOpen(ctx context.Context, id, by string) error
}

// Nonces records the used acknowledgement links' nonces: the store's.
type Nonces interface {
	UseNonce(ctx context.Context, nonce string, until time.Time) (firstUse bool, err error)
}

// StatusOptions tune the status page. The zero value works.
type StatusOptions struct {
	// Logger; nil discards.
	Logger *slog.Logger
	// Location is the time zone of the times shown; nil means UTC.
	Location *time.Location
}

// NewStatusPage returns the handler of the status page and of the
// acknowledgement links (see statuspage.New), to mount at "/". current is
// asked for the config in force at every request; nonces keeps the used
// links' nonces. When the key or the external URL changes on a reload, the
// pages follow.
func NewStatusPage(current api.Current, nonces Nonces, incidents Incidents, opts StatusOptions) (http.Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &statusPage{src: &statusSource{incidents: incidents, current: current}, nonces: storeNonces{nonces}, opts: opts}
	if _, err := p.handler(); err != nil {
		return nil, fmt.Errorf("status page: %w", err)
	}
	if !current.Get().Config.Global.Configured() {
		opts.Logger.Warn("none of global.ack_secret, ack_secret_file and ack_secret_env is set: acknowledgement links are signed with a key made at start, and stop working when the receiver restarts")
	}
	return p, nil
}

// statusPage serves statuspage's handler, built again when the key or the
// external URL changes.
type statusPage struct {
	src    *statusSource
	nonces storeNonces
	opts   StatusOptions

	mu  sync.Mutex
	key []byte
	ext string
	h   http.Handler
}

func (p *statusPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, err := p.handler()
	if err != nil {
		p.opts.Logger.Error("serving the status page", "err", err)
		http.Error(w, "The status page is unavailable: the acknowledgement key cannot be read.", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// handler returns statuspage's handler for the key and external URL in force.
func (p *statusPage) handler() (http.Handler, error) {
	rt := p.src.current.Get()
	signer, err := rt.AckSigner()
	if err != nil {
		return nil, err
	}
	ext, err := rt.Config.ExternalURL()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.h != nil && bytes.Equal(p.key, signer.Key) && p.ext == ext.String() {
		return p.h, nil
	}
	p.key, p.ext = signer.Key, ext.String()
	p.h = statuspage.New(p.src, signer, p.nonces, statuspage.Options{
		Now:         func() time.Time { return p.src.current.Get().Now() },
		Logger:      p.opts.Logger,
		ExternalURL: ext,
		Location:    p.opts.Location,
	})
	return p.h, nil
}

// storeNonces is the acklink.Nonces of the store.
type storeNonces struct{ store Nonces }

func (n storeNonces) Use(ctx context.Context, nonce string, until time.Time) (bool, error) {
	return n.store.UseNonce(ctx, nonce, until)
}

// statusSource is the statuspage.Source over the incidents and the config
// in force.
type statusSource struct {
	incidents Incidents
	current   api.Current
}

// Incidents lists the incidents with an escalation.
func (s *statusSource) Incidents(ctx context.Context) ([]incident.Incident, error) {
	return s.incidents.Incidents(ctx)
}

// Ack acknowledges an open incident as the status page does.
func (s *statusSource) Ack(ctx context.Context, id, by string) error {
	return s.incidents.AcknowledgeOpen(ctx, id, by)
}

var _ statuspage.Source = (*statusSource)(nil)

// OnCall is who is on call per schedule, with the next handoffs.
func (s *statusSource) OnCall(_ context.Context, at time.Time) ([]statuspage.OnCall, error) {
	var out []statuspage.OnCall
	for _, st := range s.current.Get().OnCallStatus(at, receiverconfig.NextHandoffs) {
		o := statuspage.OnCall{Schedule: st.Schedule}
		if st.OnCall != nil {
			o.User = st.OnCall.Name
		}
		for i, h := range st.NextHandoffs {
			if i == 0 {
				o.Until = h.At
			}
			o.Next = append(o.Next, statuspage.Handoff{At: h.At, User: h.To})
		}
		out = append(out, o)
	}
	return out, nil
}

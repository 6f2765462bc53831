// Package statuspage serves Klaxon's status page and the pages behind signed
// acknowledgement links: server-rendered HTML from embedded templates,
// usable without JavaScript and readable on a phone.
//
// The status page lists the open incidents, each with an acknowledge
// button, and who is on call. An acknowledgement link from a Slack or
// Discord message opens a confirmation page; only the POST from that page
// acknowledges, so link previews and unfurlers, which only GET, never do.
package statuspage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/acklink"
	"github.com/klaxonhq/klaxon/pkg/incident"
)

// Source is the state the pages show and change.
type Source interface {
	// Incidents returns the incidents to show; resolved ones are left out
	// of the page.
	Incidents(ctx context.Context) ([]incident.Incident, error)
	// OnCall returns who is on call at the given time, per schedule.
	OnCall(ctx context.Context, at time.Time) ([]OnCall, error)
	// Ack acknowledges an open incident on behalf of by. It returns
	// incident.ErrNotFound, wrapped, for an unknown or resolved incident, and
	// incident.ErrAcknowledged, wrapped, for one someone else acknowledged.
	Ack(ctx context.Context, incidentID, by string) error
}

// OnCall is who is on call for one schedule.
type OnCall struct {
	Schedule string
	// User is "" when nobody is on call.
	User string
	// Until is the end of the current shift; zero if it does not end.
	Until time.Time
	// Next are the coming handoffs, soonest first.
	Next []Handoff
}

// Handoff is a change of who is on call.
type Handoff struct {
	At   time.Time
	User string
}

// Options tune the handler. The zero value works.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
	// ExternalURL is where users reach the receiver. Its path prefixes
	// every route (default "/"), and an https scheme makes the CSRF
	// cookie Secure.
	ExternalURL *url.URL
	// Location is the time zone of the times shown; nil means UTC.
	Location *time.Location
}

// Limits on what a form may carry.
const (
	// maxFormBytes bounds a form's body: a name and a CSRF token.
	maxFormBytes = 4 << 10
	// maxNameRunes bounds the name of who acknowledges.
	maxNameRunes = 64
)

type handler struct {
	src     Source
	signer  *acklink.Signer
	nonces  acklink.Nonces
	now     func() time.Time
	logger  *slog.Logger
	base    string // the routes' path prefix, ending in "/"
	secure  bool
	loc     *time.Location
	csrfKey []byte
	mux     *http.ServeMux
}

// New returns the handler of the status page and the acknowledgement
// links, at the path of opts.ExternalURL (here "/"):
//
//	GET  /                    the status page
//	POST /incidents/{id}/ack  acknowledge from the status page (CSRF-checked)
//	GET  /ack/{token}         confirm an acknowledgement link; never acknowledges
//	POST /ack/{token}         acknowledge through the link, once
//
// signer (not nil) checks the links and keys the CSRF tokens; nonces
// refuses a link's second use. Mount the handler at the external URL's
// path, such as mux.Handle("/", h).
func New(src Source, signer *acklink.Signer, nonces acklink.Nonces, opts Options) http.Handler {
	h := &handler{src: src, signer: signer, nonces: nonces, now: opts.Now, logger: opts.Logger, loc: opts.Location, base: "/"}
	if h.now == nil {
		h.now = time.Now
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.loc == nil {
		h.loc = time.UTC
	}
	if u := opts.ExternalURL; u != nil {
		h.base = strings.TrimSuffix(u.Path, "/") + "/"
		h.secure = u.Scheme == "https"
	}
	mac := hmac.New(sha256.New, signer.Key)
	mac.Write([]byte("klaxon status page csrf"))
	h.csrfKey = mac.Sum(nil)

	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET "+h.base+"{$}", h.status)
	h.mux.HandleFunc("POST "+h.base+"incidents/{id}/ack", h.formAck)
	h.mux.HandleFunc("GET "+h.base+"ack/{token}", h.confirmLink)
	h.mux.HandleFunc("POST "+h.base+"ack/{token}", h.ackLink)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	// Links carry tokens: no Referer may take them elsewhere, and no
	// cache may keep them.
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// Package api is klaxon-receiver's HTTP API: the webhook that takes
// Alertmanager's notifications at POST /webhook/{route}, and the incidents
// and on-call endpoints under /api/v1/ that the CLI calls, all behind the
// config's bearer token.
package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// Webhook takes Alertmanager's notifications at POST /webhook/{route}. It
// answers 200 only once the notification and its deliveries are committed
// to the store, so that Alertmanager retries anything the receiver could
// not keep.
type Webhook struct {
	current   Current
	ingester  Ingester
	deliverer Waker
	now       func() time.Time
	logger    *slog.Logger
	requests  *prometheus.CounterVec
	// routes keeps the requests' series with code 200 at 0 for the
	// configured routes.
	routes *receiverconfig.RouteSeries
}

// Current gives the config in force, which a reload replaces whole.
type Current interface {
	Get() *receiverconfig.Runtime
}

// Ingester records an accepted notification: the incident package's.
type Ingester interface {
	Ingest(ctx context.Context, route *receiverconfig.Route, msg *alert.Message, payload []byte, receivedAt time.Time) (store.IngestResult, error)
}

// Waker is told that deliveries were added: the delivery workers.
type Waker interface {
	Wake()
}

// NewWebhook returns the webhook handler. current is asked for the config
// in force at every request; ingester records what is accepted, and
// deliverer is woken when that added deliveries. The
// request counters of the config's routes start at 0; SetRoutes follows a
// reload.
func NewWebhook(current Current, ingester Ingester, deliverer Waker, reg prometheus.Registerer, logger *slog.Logger) *Webhook {
	h := &Webhook{
		current:   current,
		ingester:  ingester,
		deliverer: deliverer,
		now:       time.Now,
		logger:    logger,
		requests: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_receiver_webhook_requests_total",
			Help: "Webhook requests from Alertmanager, by route and HTTP status code; route is \"unknown\" for routes not in the config.",
		}, []string{"route", "code"}),
	}
	h.routes = receiverconfig.NewRouteSeries(h.requests.MetricVec, strconv.Itoa(http.StatusOK))
	h.SetRoutes(current.Get().Config)
	return h
}

// SetRoutes starts the request counter of cfg's routes at 0 for code 200
// and drops the counters of the routes cfg no longer has.
func (h *Webhook) SetRoutes(cfg *receiverconfig.Config) { h.routes.Set(cfg.RouteNames()) }

// Response is the JSON body of every answer of the webhook, and of the
// API's refusals.
type Response struct {
	Status     string `json:"status,omitempty"`
	Error      string `json:"error,omitempty"`
	Field      string `json:"field,omitempty"`
	Incident   string `json:"incident,omitempty"`
	Deliveries int    `json:"deliveries"`
	Duplicate  bool   `json:"duplicate,omitempty"`
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := h.current.Get().Config
	name := r.PathValue("route")
	route := cfg.Route(name)
	label := name
	if route == nil {
		label = "unknown"
	}
	code, resp := h.handle(cfg, route, r, w)
	if code != http.StatusOK {
		h.logger.Warn("webhook refused", "route", name, "code", code, "err", resp.Error)
	}
	h.requests.WithLabelValues(label, strconv.Itoa(code)).Inc()
	writeJSON(w, code, resp)
}

func (h *Webhook) handle(cfg *receiverconfig.Config, route *receiverconfig.Route, r *http.Request, w http.ResponseWriter) (int, Response) {
	if code, err := h.authorize(cfg, r); err != nil {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="klaxon-receiver"`)
		}
		return code, Response{Error: err.Error()}
	}
	if route == nil {
		return http.StatusNotFound, Response{Error: fmt.Sprintf("unknown route %q: the config has %s", r.PathValue("route"), cfg.DescribeRoutes())}
	}
	data, code, err := readBody(w, r, int64(cfg.Global.MaxBodySize))
	if err != nil {
		return code, Response{Error: err.Error()}
	}
	msg, err := alert.Decode(bytes.NewReader(data))
	if err != nil {
		var fe *alert.FieldError
		if errors.As(err, &fe) {
			return http.StatusBadRequest, Response{Error: fe.Error(), Field: fe.Field}
		}
		return http.StatusBadRequest, Response{Error: err.Error()}
	}
	return h.ingest(r, route, msg, data)
}

func (h *Webhook) ingest(r *http.Request, route *receiverconfig.Route, msg *alert.Message, data []byte) (int, Response) {
	res, err := h.ingester.Ingest(r.Context(), route, msg, data, h.now())
	if err != nil {
		h.logger.Error("cannot store notification; Alertmanager will retry", "route", route.Name, "err", err)
		return http.StatusServiceUnavailable, Response{Error: "cannot store the notification, try again: " + err.Error()}
	}
	if res.Deliveries > 0 {
		h.deliverer.Wake()
	}
	return http.StatusOK, Response{Status: "accepted", Incident: alert.IncidentKey(route.Name, msg.GroupKey), Deliveries: res.Deliveries, Duplicate: res.Duplicate}
}

// readBody reads r's body, decompressed when its Content-Encoding is
// gzip, and refuses a body over limit bytes as sent or decompressed. On
// error it returns the status to answer with.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	switch enc := r.Header.Get("Content-Encoding"); strings.ToLower(strings.TrimSpace(enc)) {
	case "", "identity":
		data, err := io.ReadAll(body)
		if err != nil {
			return readError("body", err)
		}
		return data, 0, nil
	case "gzip", "x-gzip":
		return readGzip(body, limit)
	default:
		w.Header().Set("Accept-Encoding", "gzip")
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported Content-Encoding %q: the webhook takes gzip or no encoding", enc)
	}
}

// readGzip decompresses body, and refuses it when it decompresses to more
// than limit bytes.
func readGzip(body io.Reader, limit int64) ([]byte, int, error) {
	zr, err := gzip.NewReader(body)
	if errors.Is(err, io.EOF) {
		err = errors.New("empty body")
	}
	if err != nil {
		return readError("gzip body", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return readError("gzip body", err)
	}
	if int64(len(data)) > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("gzip body decompresses to more than max_body_size (%d bytes)", limit)
	}
	return data, 0, nil
}

// readError says why what (the body, the gzip body) could not be read,
// with the status to answer: 413 past the limit, 400 otherwise.
func readError(what string, err error) ([]byte, int, error) {
	if tooLarge, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than max_body_size (%d bytes)", tooLarge.Limit)
	}
	return nil, http.StatusBadRequest, fmt.Errorf("reading %s: %w", what, err)
}

// authorize checks the bearer token when the config asks for one. Basic
// auth and TLS come from --web.config.file, before this handler.
func (h *Webhook) authorize(cfg *receiverconfig.Config, r *http.Request) (int, error) {
	return authorize(cfg, r, h.logger)
}

// authorize checks a request's bearer token against the config's, for
// every endpoint that the token guards. It returns the status to answer
// with when the request may not pass.
func authorize(cfg *receiverconfig.Config, r *http.Request, logger *slog.Logger) (int, error) {
	want, err := cfg.BearerToken()
	if err != nil {
		logger.Error("cannot read the webhook's bearer token", "err", err)
		return http.StatusServiceUnavailable, errors.New("the receiver cannot read its bearer_token_file")
	}
	if want == "" {
		return 0, nil
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return http.StatusUnauthorized, errors.New("missing or wrong bearer token")
	}
	return 0, nil
}

// Refuse answers r as the webhook and the API do when its bearer token is
// missing or wrong (401) or the token cannot be read (503), and reports
// whether it did. The receiver runs it ahead of answering that its store
// is not open, so that a caller without the token learns nothing more.
func Refuse(cfg *receiverconfig.Config, w http.ResponseWriter, r *http.Request, logger *slog.Logger) bool {
	code, err := authorize(cfg, r, logger)
	if err == nil {
		return false
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="klaxon-receiver"`)
	}
	writeJSON(w, code, Response{Error: err.Error()})
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

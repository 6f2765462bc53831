package receiver

import (
	"bytes"
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
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// Webhook takes Alertmanager's notifications at POST /webhook/{route}. It
// answers 200 only once the notification and its deliveries are committed
// to the store, so that Alertmanager retries anything the receiver could
// not keep.
type Webhook struct {
	config func() *Config
	store  store.Store
	wake   func()
	now    func() time.Time
	// escalate, if set, returns the Ingest hook that starts, refreshes
	// or resolves the incident's escalation.
	escalate func(route *Route, msg *alert.Message) store.EscalationHook
	logger   *slog.Logger
	requests *prometheus.CounterVec
	// routes keeps the requests' series with code 200 at 0 for the
	// configured routes.
	routes *routeSeries
}

// NewWebhook returns the webhook handler. config is asked for the config in
// force at every request; wake is called after deliveries were added. The
// request counters of config's routes start at 0; setRoutes follows a
// reload.
func NewWebhook(config func() *Config, st store.Store, wake func(), reg prometheus.Registerer, logger *slog.Logger) *Webhook {
	h := &Webhook{
		config: config,
		store:  st,
		wake:   wake,
		now:    time.Now,
		logger: logger,
		requests: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "klaxon_receiver_webhook_requests_total",
			Help: "Webhook requests from Alertmanager, by route and HTTP status code; route is \"unknown\" for routes not in the config.",
		}, []string{"route", "code"}),
	}
	h.routes = &routeSeries{vec: h.requests.MetricVec, values: []string{strconv.Itoa(http.StatusOK)}}
	h.setRoutes(config())
	return h
}

// setRoutes starts the request counter of cfg's routes at 0 for code 200
// and drops the counters of the routes cfg no longer has.
func (h *Webhook) setRoutes(cfg *Config) { h.routes.set(configuredRoutes(cfg)) }

// response is the JSON body of every answer.
type response struct {
	Status     string `json:"status,omitempty"`
	Error      string `json:"error,omitempty"`
	Field      string `json:"field,omitempty"`
	Incident   string `json:"incident,omitempty"`
	Deliveries int    `json:"deliveries"`
	Duplicate  bool   `json:"duplicate,omitempty"`
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := h.config()
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

func (h *Webhook) handle(cfg *Config, route *Route, r *http.Request, w http.ResponseWriter) (int, response) {
	if code, err := h.authorize(cfg, r); err != nil {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="klaxon-receiver"`)
		}
		return code, response{Error: err.Error()}
	}
	if route == nil {
		return http.StatusNotFound, response{Error: fmt.Sprintf("unknown route %q: the config has %s", r.PathValue("route"), routeNames(cfg))}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(cfg.Global.MaxBodySize)))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, response{Error: fmt.Sprintf("body larger than max_body_size (%d bytes)", tooLarge.Limit)}
	case err != nil:
		return http.StatusBadRequest, response{Error: fmt.Sprintf("reading body: %v", err)}
	}
	msg, err := alert.Decode(bytes.NewReader(data))
	if err != nil {
		var fe *alert.FieldError
		if errors.As(err, &fe) {
			return http.StatusBadRequest, response{Error: fe.Error(), Field: fe.Field}
		}
		return http.StatusBadRequest, response{Error: err.Error()}
	}
	return h.ingest(r, route, msg, data)
}

func (h *Webhook) ingest(r *http.Request, route *Route, msg *alert.Message, data []byte) (int, response) {
	in := &store.Ingest{
		Route:       route.Name,
		IncidentKey: alert.IncidentKey(route.Name, msg.GroupKey),
		GroupKey:    msg.GroupKey,
		StateHash:   msg.StateHash(),
		Status:      msg.Status,
		Kind:        string(kindOf(msg)),
		Payload:     data,
		Channels:    route.Channels,
		ReceivedAt:  h.now(),
	}
	if h.escalate != nil {
		in.Escalate = h.escalate(route, msg)
	}
	res, err := h.store.Ingest(r.Context(), in)
	if err != nil {
		h.logger.Error("cannot store notification; Alertmanager will retry", "route", route.Name, "err", err)
		return http.StatusServiceUnavailable, response{Error: "cannot store the notification, try again: " + err.Error()}
	}
	if res.Deliveries > 0 {
		h.wake()
	}
	return http.StatusOK, response{Status: "accepted", Incident: in.IncidentKey, Deliveries: res.Deliveries, Duplicate: res.Duplicate}
}

func kindOf(msg *alert.Message) notify.Kind {
	if msg.Status == alert.StatusResolved {
		return notify.KindResolve
	}
	return notify.KindTrigger
}

// authorize checks the bearer token when the config asks for one. Basic
// auth and TLS come from --web.config.file, before this handler.
func (h *Webhook) authorize(cfg *Config, r *http.Request) (int, error) {
	return authorize(cfg, r, h.logger)
}

// authorize checks a request's bearer token against the config's, for
// every endpoint that the token guards. It returns the status to answer
// with when the request may not pass.
func authorize(cfg *Config, r *http.Request, logger *slog.Logger) (int, error) {
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

func routeNames(cfg *Config) string {
	if len(cfg.Routes) == 0 {
		return "no routes"
	}
	names := make([]string, len(cfg.Routes))
	for i, r := range cfg.Routes {
		names[i] = r.Name
	}
	return "routes " + strings.Join(names, ", ")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

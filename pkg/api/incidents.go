package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/incident"
)

// IncidentsAPI serves the incidents API behind the webhook's bearer
// token: GET /api/v1/incidents, POST /api/v1/incidents/{id}/ack with
// {"by": "name"}, and POST /api/v1/incidents/{id}/resolve.
type IncidentsAPI struct {
	current   Current
	incidents Incidents
	logger    *slog.Logger
}

// Incidents lists, acknowledges and resolves incidents: the incident
// package's Manager.
type Incidents interface {
	Open(ctx context.Context) ([]incident.Summary, error)
	Acknowledge(ctx context.Context, id, by string) (incident.Acknowledgement, error)
	Resolve(ctx context.Context, id, by string) (string, error)
}

// NewIncidentsAPI returns the handler of the incidents API.
func NewIncidentsAPI(current Current, incidents Incidents, logger *slog.Logger) *IncidentsAPI {
	return &IncidentsAPI{current: current, incidents: incidents, logger: logger}
}

// Register adds the API's routes to mux.
func (h *IncidentsAPI) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/incidents", h.guard(h.list))
	mux.Handle("POST /api/v1/incidents/{id}/ack", h.guard(h.ack))
	mux.Handle("POST /api/v1/incidents/{id}/resolve", h.guard(h.resolve))
}

// IncidentsResponse is the answer to GET /api/v1/incidents.
type IncidentsResponse struct {
	Incidents []incident.Summary `json:"incidents"`
}

// AckRequest is the body of an acknowledgement.
type AckRequest struct {
	By string `json:"by"`
}

func (h *IncidentsAPI) guard(next func(*http.Request) (int, any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Refuse(h.current.Get().Config, w, r, h.logger) {
			return
		}
		code, v := next(r)
		writeJSON(w, code, v)
	})
}

func (h *IncidentsAPI) list(r *http.Request) (int, any) {
	list, err := h.incidents.Open(r.Context())
	if err != nil {
		h.logger.Error("cannot list incidents", "err", err)
		return http.StatusServiceUnavailable, Response{Error: "cannot list incidents: " + err.Error()}
	}
	return http.StatusOK, IncidentsResponse{Incidents: list}
}

// ChangeResponse is the answer to an acknowledgement or a resolve.
type ChangeResponse struct {
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// ID is the incident's key, in full.
	ID      string    `json:"id,omitempty"`
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
}

// Statuses of an acknowledgement's answer.
const (
	StatusAcknowledged        = "acknowledged"
	StatusAlreadyAcknowledged = "already acknowledged"
)

// ack acknowledges an incident. Acknowledging again is answered 200
// "already acknowledged" for the same person (names compared regardless
// of case) and 409 with who has it for anyone else.
func (h *IncidentsAPI) ack(r *http.Request) (int, any) {
	var req AckRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return http.StatusBadRequest, ChangeResponse{Error: `body must be JSON {"by": "name"}: ` + err.Error()}
	}
	a, err := h.incidents.Acknowledge(r.Context(), r.PathValue("id"), req.By)
	if err != nil {
		return h.refusal(err)
	}
	resp := ChangeResponse{Status: StatusAcknowledged, ID: a.Incident, AckedBy: a.By, AckedAt: a.At}
	switch {
	case !a.Already:
		return http.StatusOK, resp
	case incident.SamePerson(a.By, req.By):
		resp.Status = StatusAlreadyAcknowledged
		return http.StatusOK, resp
	}
	resp.Status, resp.Error = "", fmt.Sprintf("incident %s was already acknowledged by %s at %s",
		alert.ShortID(a.Incident), a.By, formatTime(a.At))
	return http.StatusConflict, resp
}

func (h *IncidentsAPI) resolve(r *http.Request) (int, any) {
	key, err := h.incidents.Resolve(r.Context(), r.PathValue("id"), "api")
	if err != nil {
		return h.refusal(err)
	}
	return http.StatusOK, ChangeResponse{Status: "resolved", ID: key}
}

// refusal is the answer to a failed acknowledgement or resolve.
func (h *IncidentsAPI) refusal(err error) (int, any) {
	switch {
	case errors.Is(err, incident.ErrBadID):
		return http.StatusBadRequest, ChangeResponse{Error: err.Error()}
	case errors.Is(err, incident.ErrAmbiguousID):
		return http.StatusConflict, ChangeResponse{Error: err.Error()}
	case errors.Is(err, incident.ErrNotFound):
		return http.StatusNotFound, ChangeResponse{Error: err.Error()}
	}
	h.logger.Error("cannot change incident", "err", err)
	return http.StatusServiceUnavailable, ChangeResponse{Error: err.Error()}
}

// formatTime is t as the API's messages say it: RFC 3339 in UTC, "-" for
// none.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/klaxonhq/klaxon/pkg/receiverconfig"
)

// OnCallAPI serves GET /api/v1/oncall[?at=RFC 3339 time]: who is on call
// per schedule, behind the webhook's bearer token.
type OnCallAPI struct {
	current Current
	logger  *slog.Logger
}

// NewOnCallAPI returns the handler; current is asked for the config in
// force at every request.
func NewOnCallAPI(current Current, logger *slog.Logger) *OnCallAPI {
	return &OnCallAPI{current: current, logger: logger}
}

// OnCallResponse is the API's answer.
type OnCallResponse struct {
	At        time.Time                       `json:"at"`
	Schedules []receiverconfig.ScheduleStatus `json:"schedules"`
}

func (h *OnCallAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := h.current.Get()
	if Refuse(rt.Config, w, r, h.logger) {
		return
	}
	at, err := ParseTime(r.URL.Query().Get("at"), rt.Now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, Response{Error: err.Error(), Field: "at"})
		return
	}
	writeJSON(w, http.StatusOK, OnCallResponse{At: at, Schedules: rt.OnCallStatus(at, receiverconfig.NextHandoffs)})
}

// ParseTime parses an RFC 3339 time as the commands and the API take it;
// "" is now.
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q must be RFC 3339, such as 2026-03-10T08:50:00Z", s)
	}
	return t, nil
}

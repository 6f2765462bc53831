package statuspage

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/klaxonhq/klaxon/pkg/incident"
)

// status serves the status page.
func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := h.now()
	csrf := h.csrfToken(h.session(w, r))
	p := page{Title: "Klaxon status", Refresh: refreshSeconds, Updated: h.clock(now)}
	code := http.StatusOK
	incidents, err := h.src.Incidents(ctx)
	if err != nil {
		h.logger.Warn("reading incidents for the status page", "err", err)
		p.IncidentsFailed, code = true, http.StatusServiceUnavailable
	}
	p.Incidents = h.openIncidents(incidents, now, csrf)
	oncall, err := h.src.OnCall(ctx, now)
	if err != nil {
		h.logger.Warn("reading who is on call for the status page", "err", err)
		p.OnCallFailed, code = true, http.StatusServiceUnavailable
	}
	p.OnCall = h.onCall(oncall)
	h.render(w, r, code, "status", p)
}

// openIncidents are the incidents that are not resolved, the ones not yet
// acknowledged first, then the most severe, then the oldest.
func (h *handler) openIncidents(incidents []incident.Incident, now time.Time, csrf string) []incidentView {
	open := slices.DeleteFunc(slices.Clone(incidents), func(i incident.Incident) bool { return i.Status == incident.StatusResolved })
	slices.SortStableFunc(open, func(a, b incident.Incident) int {
		return cmp.Or(
			cmp.Compare(rankAcked(a), rankAcked(b)),
			cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)),
			a.Started.Compare(b.Started),
			strings.Compare(a.ID, b.ID),
		)
	})
	views := make([]incidentView, len(open))
	for i, inc := range open {
		views[i] = h.view(inc, now)
		if inc.Status != incident.StatusAcknowledged {
			views[i].Form = &ackForm{Action: h.incidentPath(inc.ID), CSRF: csrf}
		}
	}
	return views
}

func rankAcked(i incident.Incident) int {
	if i.Status == incident.StatusAcknowledged {
		return 1
	}
	return 0
}

func (h *handler) onCall(oncall []OnCall) []onCallView {
	views := make([]onCallView, len(oncall))
	for i, o := range oncall {
		v := onCallView{Schedule: o.Schedule, User: o.User}
		if !o.Until.IsZero() {
			v.Until = h.clock(o.Until)
		}
		for _, n := range o.Next {
			v.Next = append(v.Next, handoffView{At: h.clock(n.At), User: n.User})
		}
		views[i] = v
	}
	return views
}

// formAck acknowledges an incident from the status page's form.
func (h *handler) formAck(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	if !h.checkCSRF(r) {
		h.logger.Info("acknowledgement refused: bad or missing CSRF token", "incident", r.PathValue("id"))
		h.message(w, r, http.StatusForbidden, "Form expired",
			"This form is out of date or came from another site. Reload the status page and press Acknowledge again.", nil)
		return
	}
	id := r.PathValue("id")
	by := formName(r, "someone")
	if !h.ack(w, r, id, by, "status page") {
		return
	}
	http.Redirect(w, r, h.base, http.StatusSeeOther)
}

// ack calls Source.Ack and, when it fails, writes the error page. It
// reports whether the incident was acknowledged.
func (h *handler) ack(w http.ResponseWriter, r *http.Request, id, by, via string) bool {
	err := h.src.Ack(r.Context(), id, by)
	switch {
	case errors.Is(err, incident.ErrNotFound):
		h.logger.Info("acknowledgement of an incident that is not open", "incident", id, "via", via)
		h.message(w, r, http.StatusNotFound, "Incident not open",
			"This incident is not open any more: it was resolved, or never existed.", nil)
		return false
	case errors.Is(err, incident.ErrAcknowledged):
		h.logger.Info("acknowledgement of an incident someone else acknowledged", "incident", id, "by", by, "via", via)
		inc, _, _ := h.lookup(r.Context(), id)
		h.message(w, r, http.StatusConflict, "Already acknowledged", acknowledgedBefore(inc), inc)
		return false
	case err != nil:
		h.logger.Warn("acknowledging", "incident", id, "via", via, "err", err)
		h.message(w, r, http.StatusServiceUnavailable, "Not acknowledged",
			"Klaxon could not record the acknowledgement just now. Try again from the status page in a moment.", nil)
		return false
	}
	h.logger.Info("incident acknowledged", "incident", id, "by", by, "via", via)
	return true
}

// acknowledgedBefore says who acknowledged inc (nil if unknown) first.
func acknowledgedBefore(inc *incidentView) string {
	if inc == nil || inc.AckedBy == "" {
		return "Someone else acknowledged this incident first. Nothing changed."
	}
	who := inc.AckedBy
	if inc.AckedAt != "" {
		who += " (" + inc.AckedAt + ")"
	}
	return "This incident was already acknowledged by " + who + ". Nothing changed."
}

// parseForm reads a small urlencoded form, or writes a 400 page.
func (h *handler) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.logger.Debug("bad form", "path", r.URL.Path, "err", err)
		h.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.", nil)
		return false
	}
	return true
}

// formName is the form's "name" field made printable and short, or def
// if that leaves nothing.
func formName(r *http.Request, def string) string {
	name := strings.Map(func(c rune) rune {
		if unicode.IsPrint(c) {
			return c
		}
		return ' '
	}, r.PostFormValue("name"))
	name = strings.Join(strings.Fields(name), " ")
	if runes := []rune(name); len(runes) > maxNameRunes {
		name = string(runes[:maxNameRunes])
	}
	if name == "" {
		return def
	}
	return name
}

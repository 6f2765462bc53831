package statuspage

import (
	"context"
	"errors"
	"net/http"

	"github.com/klaxonhq/klaxon/pkg/acklink"
	"github.com/klaxonhq/klaxon/pkg/incident"
)

// confirmLink shows what an acknowledgement link would do, and a button
// that does it. It never acknowledges, so that link previews and
// unfurlers, which fetch links with GET, cannot.
func (h *handler) confirmLink(w http.ResponseWriter, r *http.Request) {
	claims, ok := h.verify(w, r)
	if !ok {
		return
	}
	inc, ok := h.find(w, r, claims.Incident)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, "confirm", page{
		Title:    "Acknowledge this incident?",
		Incident: inc,
		Expires:  h.clock(claims.Expires),
	})
}

// ackLink acknowledges through a link, once.
func (h *handler) ackLink(w http.ResponseWriter, r *http.Request) {
	if !h.parseForm(w, r) {
		return
	}
	claims, ok := h.verify(w, r)
	if !ok {
		return
	}
	first, err := h.nonces.Use(r.Context(), claims.Nonce, claims.Expires)
	if err != nil {
		h.logger.Warn("recording the use of an acknowledgement link", "incident", claims.Incident, "err", err)
		h.message(w, r, http.StatusServiceUnavailable, "Not acknowledged",
			"Klaxon could not record the use of this link just now. Try again in a moment.", nil)
		return
	}
	if !first {
		h.logger.Info("acknowledgement link used again", "incident", claims.Incident)
		h.message(w, r, http.StatusConflict, "Link already used",
			"This link was already used. Each acknowledgement link works once; the status page shows the incident's state.", nil)
		return
	}
	by := formName(r, "link")
	if !h.ack(w, r, claims.Incident, by, "link") {
		return
	}
	inc, _, _ := h.lookup(r.Context(), claims.Incident)
	h.message(w, r, http.StatusOK, "Acknowledged", "The incident is acknowledged by "+by+".", inc)
}

// verify checks the request's link token, or writes the page that says
// what is wrong with it.
func (h *handler) verify(w http.ResponseWriter, r *http.Request) (acklink.Claims, bool) {
	claims, err := h.signer.VerifyAction(r.PathValue("token"), acklink.ActionAck, h.now())
	switch {
	case err == nil:
		return claims, true
	case errors.Is(err, acklink.ErrExpired):
		h.logger.Debug("acknowledgement link refused", "err", err)
		h.message(w, r, http.StatusGone, "Link expired",
			"This acknowledgement link has expired. Acknowledge from the status page instead.", nil)
	case errors.Is(err, acklink.ErrKeyTooShort):
		h.logger.Error("acknowledgement links cannot be checked", "err", err)
		h.message(w, r, http.StatusInternalServerError, "Links unavailable",
			"Klaxon's acknowledgement links are misconfigured. Acknowledge from the status page instead.", nil)
	default:
		h.logger.Debug("acknowledgement link refused", "err", err)
		h.message(w, r, http.StatusBadRequest, "Invalid link",
			"This acknowledgement link is not valid: it may have been cut short or changed. Copy the whole link from the message, or acknowledge from the status page.", nil)
	}
	return acklink.Claims{}, false
}

// find looks up the open incident id, or writes the page that says why it
// cannot be shown.
func (h *handler) find(w http.ResponseWriter, r *http.Request, id string) (*incidentView, bool) {
	inc, found, err := h.lookup(r.Context(), id)
	switch {
	case err != nil:
		h.logger.Warn("reading incidents for an acknowledgement link", "incident", id, "err", err)
		h.message(w, r, http.StatusServiceUnavailable, "Status unavailable",
			"Klaxon could not read the incident just now. Try again in a moment.", nil)
		return nil, false
	case !found:
		h.message(w, r, http.StatusNotFound, "Incident not open",
			"This incident is not open any more: it was resolved, or never existed.", nil)
		return nil, false
	}
	return inc, true
}

// lookup returns the open incident id, if there is one.
func (h *handler) lookup(ctx context.Context, id string) (*incidentView, bool, error) {
	incidents, err := h.src.Incidents(ctx)
	if err != nil {
		return nil, false, err
	}
	for _, inc := range incidents {
		if inc.ID == id && inc.Status != incident.StatusResolved {
			v := h.view(inc, h.now())
			return &v, true, nil
		}
	}
	return nil, false, nil
}

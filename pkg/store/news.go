package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// AlertState is how far one alert of an incident has got: the episode it
// is in and whether that episode has resolved. The store keeps it per
// incident to tell a notification that says something new from one that
// restates or predates what it recorded.
type AlertState struct {
	Fingerprint string `json:"fingerprint"`
	// StartsAt is when the alert's episode began, Alertmanager's startsAt.
	// Alertmanager gives an alert that fires again after it resolved a
	// later startsAt.
	StartsAt time.Time `json:"startsAt"`
	Resolved bool      `json:"resolved,omitempty"`
	// Seen is when the store last recorded a notification naming the
	// alert; set by Offer.
	Seen time.Time `json:"seen"`
}

// ForgetAlertsAfter is how long an incident's record keeps an alert that
// the notifications it records have stopped naming: Alertmanager drops a
// resolved alert once it has notified it, and leaves out a silenced one.
const ForgetAlertsAfter = time.Hour

// Recorded is what a store holds of an incident's state.
type Recorded struct {
	StateHash string
	Alerts    []AlertState
}

// Offer compares the notification in with its incident's recorded state
// cur (nil for an incident the store has not seen), and returns the state
// to record and whether in is news. A notification is news when one of
// its alerts is new to the incident, in a later episode, or has changed
// between firing and resolved. It is not news when it repeats the state
// recorded, or when each of its alerts is as recorded or in an earlier
// episode: an older state reaching the store after a newer one (a post
// held in a paused replica, a peer of an Alertmanager cluster behind the
// other) or only fewer firing alerts, which Alertmanager does not notify
// either. A notification naming no alert is compared by state hash alone.
func Offer(cur *Recorded, in *Ingest) (Recorded, bool) {
	at := in.ReceivedAt
	if cur == nil {
		return Recorded{StateHash: in.StateHash, Alerts: seen(in.Alerts, at)}, true
	}
	if cur.StateHash == in.StateHash {
		return *cur, false
	}
	recorded := make(map[string]AlertState, len(cur.Alerts))
	for _, a := range cur.Alerts {
		recorded[a.Fingerprint] = a
	}
	news := len(in.Alerts) == 0
	next := make([]AlertState, 0, len(in.Alerts)+len(cur.Alerts))
	for _, a := range in.Alerts {
		r, ok := recorded[a.Fingerprint]
		delete(recorded, a.Fingerprint)
		switch {
		case !ok || furtherOn(a, r):
			news = true
		case a.StartsAt.Before(r.StartsAt):
			a = r
		}
		a.Seen = at
		next = append(next, a)
	}
	for _, r := range cur.Alerts {
		if _, left := recorded[r.Fingerprint]; left && at.Sub(r.Seen) < ForgetAlertsAfter {
			next = append(next, r)
		}
	}
	if !news {
		return *cur, false
	}
	return Recorded{StateHash: in.StateHash, Alerts: next}, true
}

// furtherOn reports whether a is further on than r, the same alert as
// recorded: a later episode, or the same episode firing again or resolved.
func furtherOn(a, r AlertState) bool {
	if !a.StartsAt.Equal(r.StartsAt) {
		return a.StartsAt.After(r.StartsAt)
	}
	return a.Resolved != r.Resolved
}

func seen(alerts []AlertState, at time.Time) []AlertState {
	out := make([]AlertState, len(alerts))
	for i, a := range alerts {
		a.Seen = at
		out[i] = a
	}
	return out
}

// EncodeAlerts is how drivers store Recorded.Alerts: as JSON text.
func EncodeAlerts(alerts []AlertState) (string, error) {
	if alerts == nil {
		alerts = []AlertState{}
	}
	b, err := json.Marshal(alerts)
	if err != nil {
		return "", fmt.Errorf("encoding the incident's alerts: %w", err)
	}
	return string(b), nil
}

// DecodeAlerts reads what EncodeAlerts wrote.
func DecodeAlerts(s string) ([]AlertState, error) {
	var alerts []AlertState
	if err := json.Unmarshal([]byte(s), &alerts); err != nil {
		return nil, fmt.Errorf("decoding the incident's alerts: %w", err)
	}
	return alerts, nil
}

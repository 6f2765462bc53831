// Package alert is the Alertmanager webhook payload (version 4) as
// klaxon-receiver takes it: decoding, validation with errors that name the
// bad field, and the identities the rest of the receiver keys on.
package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Statuses of a payload and of an alert.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Message is Alertmanager's webhook payload. Unknown keys are ignored, as
// Alertmanager adds keys without bumping the version.
type Message struct {
	Version            string            `json:"version"`
	GroupKey           string            `json:"groupKey"`
	TruncatedAlerts    uint64            `json:"truncatedAlerts"`
	Status             string            `json:"status"`
	Receiver           string            `json:"receiver"`
	GroupLabels        map[string]string `json:"groupLabels"`
	CommonLabels       map[string]string `json:"commonLabels"`
	CommonAnnotations  map[string]string `json:"commonAnnotations"`
	ExternalURL        string            `json:"externalURL"`
	Alerts             []Alert           `json:"alerts"`
	NotificationReason string            `json:"notification_reason,omitempty"`
}

// Alert is one alert of a Message.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// FieldError says which field of a payload is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Decode parses and validates a payload. A payload that is not JSON, or
// whose fields have the wrong types or values, gives a *FieldError.
func Decode(r io.Reader) (*Message, error) {
	var m Message
	dec := json.NewDecoder(r)
	if err := dec.Decode(&m); err != nil {
		return nil, jsonError(err)
	}
	// More misses a stray closing bracket or brace; only the end of the
	// input may follow the object.
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FieldError{Reason: "trailing data after the JSON object"}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var timeErr *time.ParseError
	switch {
	case errors.As(err, &timeErr):
		return &FieldError{Reason: fmt.Sprintf("a timestamp is not RFC 3339: %q", timeErr.Value)}
	case errors.As(err, &typeErr):
		return &FieldError{Field: typeErr.Field, Reason: fmt.Sprintf("must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return &FieldError{Reason: fmt.Sprintf("invalid JSON at byte %d: %s", syntaxErr.Offset, syntaxErr)}
	case errors.Is(err, io.EOF):
		return &FieldError{Reason: "empty body: expected an Alertmanager webhook payload"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Reason: "truncated JSON"}
	}
	return &FieldError{Reason: "invalid JSON: " + err.Error()}
}

func jsonKind(k string) string {
	switch k {
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	case "string":
		return "a string"
	}
	return "a " + k
}

// Validate checks what the receiver relies on.
func (m *Message) Validate() error {
	switch {
	case m.Version != "4":
		return &FieldError{Field: "version", Reason: fmt.Sprintf("must be \"4\" (Alertmanager's webhook version), not %q", m.Version)}
	case m.GroupKey == "":
		return &FieldError{Field: "groupKey", Reason: "must not be empty"}
	case m.Status != StatusFiring && m.Status != StatusResolved:
		return &FieldError{Field: "status", Reason: fmt.Sprintf("must be firing or resolved, not %q", m.Status)}
	case len(m.Alerts) == 0:
		return &FieldError{Field: "alerts", Reason: "must hold at least one alert"}
	}
	for i := range m.Alerts {
		if err := m.Alerts[i].validate(); err != nil {
			err.Field = fmt.Sprintf("alerts[%d].%s", i, err.Field)
			return err
		}
	}
	return nil
}

func (a *Alert) validate() *FieldError {
	switch {
	case a.Status != StatusFiring && a.Status != StatusResolved:
		return &FieldError{Field: "status", Reason: fmt.Sprintf("must be firing or resolved, not %q", a.Status)}
	case len(a.Labels) == 0:
		return &FieldError{Field: "labels", Reason: "must not be empty"}
	case a.Labels["alertname"] == "":
		return &FieldError{Field: "labels.alertname", Reason: "must be set"}
	case a.Fingerprint == "":
		return &FieldError{Field: "fingerprint", Reason: "must not be empty"}
	}
	return nil
}

// IncidentKey identifies one route's alert group: the hex SHA-256 of the
// route and Alertmanager's group key. It is stable across notifications and
// restarts, and is what PagerDuty gets as dedup_key and Opsgenie as alias.
func IncidentKey(route, groupKey string) string {
	sum := sha256.Sum256([]byte(route + "\x00" + groupKey))
	return hex.EncodeToString(sum[:])
}

// StateHash identifies what a notification says: the group's status and
// each alert's fingerprint and status. Alertmanager may deliver the same
// notification more than once (clusters deliver at least once, and repeat
// notifications restate the same state); equal hashes mean nothing changed.
func (m *Message) StateHash() string {
	parts := make([]string, 0, len(m.Alerts)+1)
	for _, a := range m.Alerts {
		parts = append(parts, a.Fingerprint+"="+a.Status)
	}
	slices.Sort(parts)
	h := sha256.New()
	h.Write([]byte(m.Status))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Firing returns the firing alerts.
func (m *Message) Firing() []Alert { return m.filter(StatusFiring) }

// Resolved returns the resolved alerts.
func (m *Message) Resolved() []Alert { return m.filter(StatusResolved) }

func (m *Message) filter(status string) []Alert {
	var out []Alert
	for _, a := range m.Alerts {
		if a.Status == status {
			out = append(out, a)
		}
	}
	return out
}

// Severity is the group's severity label, lower-cased: the common label,
// else the highest severity among the firing alerts, else "".
func (m *Message) Severity() string {
	if s := m.CommonLabels["severity"]; s != "" {
		return strings.ToLower(s)
	}
	best := ""
	for _, a := range m.Alerts {
		if s := strings.ToLower(a.Labels["severity"]); severityRank(s) > severityRank(best) {
			best = s
		}
	}
	return best
}

func severityRank(s string) int {
	switch s {
	case "critical":
		return 4
	case "error":
		return 3
	case "warning":
		return 2
	case "info":
		return 1
	}
	return 0
}

// Encode returns the payload as JSON, as stored in the outbox.
func (m *Message) Encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(m); err != nil {
		return nil, fmt.Errorf("encoding payload: %w", err)
	}
	return buf.Bytes(), nil
}

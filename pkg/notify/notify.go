// Package notify is what every integration of klaxon-receiver shares: the
// Notification a channel is asked to deliver, the Notifier interface, the
// classification of failures into retryable and permanent, HTTP helpers
// and text rendering with Alertmanager's template package. Each
// integration lives in a sub-package (pagerduty, opsgenie, slack, discord,
// webhook).
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
)

// Kind says what a notification announces.
type Kind string

// The kinds of notification.
const (
	// KindTrigger: the incident fires, anew or with changed alerts.
	KindTrigger Kind = "trigger"
	// KindResolve: every alert of the incident resolved.
	KindResolve Kind = "resolve"
	// KindTest: a test message from `klaxon-receiver send-test`.
	KindTest Kind = "test"
	// KindEscalate: the incident still fires and nobody acknowledged it;
	// the targets of escalation level Level are paged.
	KindEscalate Kind = "escalate"
	// KindAcknowledged: AckedBy acknowledged the incident; the channel is
	// told, and nobody is paged.
	KindAcknowledged Kind = "acknowledged"
)

// Enveloped reports whether outbox rows of kind k hold an Envelope rather
// than the bare Alertmanager payload.
func (k Kind) Enveloped() bool {
	return k == KindEscalate || k == KindAcknowledged
}

// Notification is one message for one channel about one incident.
type Notification struct {
	// ID is the outbox row; 0 for a test message.
	ID int64
	// Channel is the configured channel's name.
	Channel string
	// Route is the receiver route the webhook came in on.
	Route string
	// IncidentKey is stable for the route's alert group; PagerDuty gets it
	// as dedup_key and Opsgenie as alias.
	IncidentKey string
	Kind        Kind
	// Message is the Alertmanager payload. Relative runbook_url
	// annotations have already been made absolute.
	Message *alert.Message
	// Mentions are added by escalation: who must be paged in this message,
	// besides the channel's own per-severity mentions.
	Mentions []string
	// Level is the escalation level an escalate message pages, from 1.
	Level int
	// Redirects are added by escalation: the schedules with nobody on
	// call whose fallback the message pages instead.
	Redirects []Redirect
	// AckedBy names who acknowledged the incident, for an acknowledged
	// message.
	AckedBy string
	// AckURL, when set, is a signed link that acknowledges the incident;
	// chat messages show it as "Acknowledge".
	AckURL string
	// CreatedAt is when the receiver accepted the webhook.
	CreatedAt time.Time
}

// Redirect says that escalation paged a fallback because nobody was on
// call for a schedule.
type Redirect struct {
	Schedule string `json:"schedule"`
	// To names the fallback as "user carol" or "schedule secondary".
	To string `json:"to"`
}

// String is "nobody on call for primary; paging user carol instead".
func (r Redirect) String() string {
	return "nobody on call for " + r.Schedule + "; paging " + r.To + " instead"
}

// RedirectNote is n's redirects, one a line; empty without any.
func (n *Notification) RedirectNote() string {
	lines := make([]string, len(n.Redirects))
	for i, r := range n.Redirects {
		lines[i] = r.String()
	}
	return strings.Join(lines, "\n")
}

// Envelope is the outbox payload of an escalate or acknowledged
// notification: the incident's last Alertmanager payload with what the
// escalation adds to it.
type Envelope struct {
	Message  *alert.Message `json:"message"`
	Kind     Kind           `json:"kind"`
	Level    int            `json:"level,omitempty"`
	Mentions []string       `json:"mentions,omitempty"`
	// Redirects are copied into Notification.Redirects.
	Redirects []Redirect `json:"redirects,omitempty"`
	AckedBy   string     `json:"acked_by,omitempty"`
	AckURL    string     `json:"ack_url,omitempty"`
}

// Encode returns e as JSON, as stored in the outbox.
func (e *Envelope) Encode() ([]byte, error) {
	if e.Message == nil {
		return nil, errors.New("encoding envelope: no message")
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(e); err != nil {
		return nil, fmt.Errorf("encoding envelope: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeEnvelope parses an envelope and validates its message as
// alert.Decode does a bare payload.
func DecodeEnvelope(data []byte) (*Envelope, error) {
	var raw struct {
		Envelope
		Message json.RawMessage `json:"message"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decoding envelope: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding envelope: trailing data after the JSON object")
	}
	if len(raw.Message) == 0 || string(raw.Message) == "null" {
		return nil, errors.New("decoding envelope: no message")
	}
	if !raw.Kind.Enveloped() {
		return nil, fmt.Errorf("decoding envelope: kind %q is not escalate or acknowledged", raw.Kind)
	}
	msg, err := alert.Decode(bytes.NewReader(raw.Message))
	if err != nil {
		return nil, fmt.Errorf("decoding envelope message: %w", err)
	}
	e := raw.Envelope
	e.Message = msg
	return &e, nil
}

// DecodeStored reads an outbox row's payload of kind k: the envelope of an
// escalate or acknowledged row, else the bare Alertmanager payload, which
// it returns in an envelope of kind k. Each is validated as alert.Decode
// validates a webhook's payload.
func DecodeStored(k Kind, payload []byte) (*Envelope, error) {
	if !k.Enveloped() {
		msg, err := alert.Decode(bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		return &Envelope{Message: msg, Kind: k}, nil
	}
	env, err := DecodeEnvelope(payload)
	if err != nil {
		return nil, err
	}
	if env.Kind != k {
		return nil, fmt.Errorf("envelope of kind %q in a delivery of kind %q", env.Kind, k)
	}
	return env, nil
}

// Notifier delivers notifications to one upstream. Notify returns nil on
// success, else an error that Classify can read: an *Error says whether a
// retry can help; any other error is treated as a transport failure and
// retried.
type Notifier interface {
	Notify(ctx context.Context, n *Notification) error
}

// Reasons label failures in metrics and logs.
const (
	ReasonClientError = "clientError"
	ReasonServerError = "serverError"
	ReasonRateLimited = "rateLimited"
	ReasonAuthError   = "authError"
	ReasonNetwork     = "network"
	ReasonTimeout     = "timeout"
	ReasonInvalid     = "invalid"
)

// Error is a failed delivery with its classification.
type Error struct {
	// Retry says whether the same request can succeed later.
	Retry bool
	// RetryAfter is the wait the upstream asked for (Retry-After,
	// Discord's retry_after); 0 when it asked for none.
	RetryAfter time.Duration
	// StatusCode is the upstream's HTTP status, 0 without an answer.
	StatusCode int
	// Reason is one of the Reason constants.
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as one that a retry cannot fix: a rejected payload,
// a bad key, a message that cannot be rendered.
func Permanent(reason string, err error) error {
	return &Error{Reason: reason, Err: err}
}

// Classify reads an error returned by a Notifier: whether to retry, after
// how long at least, and the reason for metrics.
func Classify(err error) (retry bool, after time.Duration, reason string) {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Retry, e.RetryAfter, e.Reason
	case errors.Is(err, context.DeadlineExceeded):
		return true, 0, ReasonTimeout
	}
	return true, 0, ReasonNetwork
}

// Errorf is fmt.Errorf for permanent failures of this integration.
func Errorf(reason, format string, args ...any) error {
	return Permanent(reason, fmt.Errorf(format, args...))
}

// Options are what the receiver hands every integration's constructor.
type Options struct {
	// Template renders the integration's texts.
	Template *Template
	// Client sends the integration's requests.
	Client *http.Client
	// Logger logs what the integration does. Its lines already name the
	// channel and the integration (integrations.Channel.Notifier adds
	// them), so the integration adds neither.
	Logger *slog.Logger
}

// WithDefaults fills what o leaves empty: Alertmanager's default
// templates, a plain HTTP client and a logger that discards.
func (o Options) WithDefaults() (Options, error) {
	if o.Template == nil {
		t, err := NewTemplate(nil)
		if err != nil {
			return Options{}, err
		}
		o.Template = t
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Redact removes secret from err's text, in case an upstream or transport
// error quotes it, keeping err's classification.
func Redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), secret, "<secret>")
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Err = errors.New(msg)
		return &c
	}
	return errors.New(msg)
}

// Limit is an upstream's rate limit for one key or webhook: at most Burst
// requests at once, refilled at one per Every.
type Limit struct {
	Every time.Duration
	Burst int
}

// ShortIncident is the short ID (alert.ShortID) that the status page and
// the incidents, ack and resolve commands know n's incident by, for
// messages to show beside their acknowledgement link; "" when n has no
// such link, as the incident then has no escalation to acknowledge.
func (n *Notification) ShortIncident() string {
	if n.AckURL == "" {
		return ""
	}
	return alert.ShortID(n.IncidentKey)
}

package deliver_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// sent is what a test checks of a delivered notification.
type sent struct {
	Kind     notify.Kind
	GroupKey string
	Mentions []string
	Level    int
	AckedBy  string
	AckURL   string
}

func sentOf(n notify.Notification) sent {
	return sent{Kind: n.Kind, GroupKey: n.Message.GroupKey, Mentions: n.Mentions, Level: n.Level, AckedBy: n.AckedBy, AckURL: n.AckURL}
}

// ingestEnvelope stores an outbox row of kind env.Kind whose payload is env
// around the incident's message.
func (h *harness) ingestEnvelope(t *testing.T, key string, env notify.Envelope, channels ...string) {
	t.Helper()
	in := newIngest(t, h.clock.Now(), key, "a", notify.KindTrigger, channels...)
	msg, err := alert.Decode(bytes.NewReader(in.Payload))
	if err != nil {
		t.Fatal(err)
	}
	env.Message = msg
	if in.Payload, err = env.Encode(); err != nil {
		t.Fatal(err)
	}
	in.Kind = string(env.Kind)
	if _, err := h.store.Ingest(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	h.d.Wake()
}

func TestEnvelopedKinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  notify.Envelope
		want sent
	}{{
		name: "escalate",
		env:  notify.Envelope{Kind: notify.KindEscalate, Level: 2, Mentions: []string{"<@U1>", "<!subteam^S1>"}, AckURL: "https://klaxon.example/ack/abc"},
		want: sent{Kind: notify.KindEscalate, GroupKey: `{}:{incident="inc1"}`, Mentions: []string{"<@U1>", "<!subteam^S1>"}, Level: 2, AckURL: "https://klaxon.example/ack/abc"},
	}, {
		name: "acknowledged",
		env:  notify.Envelope{Kind: notify.KindAcknowledged, Level: 1, AckedBy: "Ada Lovelace"},
		want: sent{Kind: notify.KindAcknowledged, GroupKey: `{}:{incident="inc1"}`, Level: 1, AckedBy: "Ada Lovelace"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			chat := &fakeNotifier{}
			h := start(t, map[string]deliver.Channel{"chat": {Notifier: chat}}, nil)
			h.ingestEnvelope(t, "inc1", tc.env, "chat")
			if e := h.store.waitEvents(t, 1)[0]; e.Op != "complete" {
				t.Fatalf("store call %+v, want complete", e)
			}
			calls := chat.Calls()
			if len(calls) != 1 {
				t.Fatalf("notifier called %d times, want once", len(calls))
			}
			if diff := cmp.Diff(tc.want, sentOf(calls[0])); diff != "" {
				t.Errorf("notification (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBarePayloadsUnchanged: trigger and resolve rows hold the bare
// Alertmanager payload, and escalation's fields stay empty.
func TestBarePayloadsUnchanged(t *testing.T) {
	chat := &fakeNotifier{}
	h := start(t, map[string]deliver.Channel{"chat": {Notifier: chat}}, nil)
	h.ingest(t, "inc1", "a", notify.KindTrigger, "chat")
	h.ingest(t, "inc1", "b", notify.KindResolve, "chat")
	h.store.waitEvents(t, 2)
	var got []sent
	for _, n := range chat.Calls() {
		got = append(got, sentOf(n))
	}
	want := []sent{
		{Kind: notify.KindTrigger, GroupKey: `{}:{incident="inc1"}`},
		{Kind: notify.KindResolve, GroupKey: `{}:{incident="inc1"}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
}

func TestUndecodableEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name, kind, payload, want string
	}{{
		name:    "bare payload in an escalate row",
		kind:    "escalate",
		payload: `{"version":"4","groupKey":"{}:{}","status":"firing","receiver":"ops","alerts":[]}`,
		want:    `payload does not decode: decoding envelope: no message`,
	}, {
		name:    "kinds differ",
		kind:    "escalate",
		payload: `{"kind":"acknowledged","message":` + bareMessage + `}`,
		want:    `payload does not decode: envelope of kind "acknowledged" in a delivery of kind "escalate"`,
	}, {
		name:    "envelope of a bare kind",
		kind:    "acknowledged",
		payload: `{"kind":"trigger","message":` + bareMessage + `}`,
		want:    `payload does not decode: decoding envelope: kind "trigger" is not escalate or acknowledged`,
	}, {
		name:    "invalid message",
		kind:    "escalate",
		payload: `{"kind":"escalate","message":{"version":"3"}}`,
		want:    `payload does not decode: decoding envelope message: version: must be "4" (Alertmanager's webhook version), not "3"`,
	}, {
		name:    "not JSON",
		kind:    "acknowledged",
		payload: `{"kind":`,
		want:    `payload does not decode: decoding envelope: unexpected EOF`,
	}, {
		name:    "trailing data",
		kind:    "escalate",
		payload: `{"kind":"escalate","message":` + bareMessage + `} {}`,
		want:    `payload does not decode: decoding envelope: trailing data after the JSON object`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			chat := &fakeNotifier{}
			h := start(t, map[string]deliver.Channel{"chat": {Notifier: chat}}, nil)
			in := newIngest(t, t0, "inc1", "a", notify.KindTrigger, "chat")
			in.Kind, in.Payload = tc.kind, []byte(tc.payload)
			if _, err := h.store.Ingest(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			h.d.Wake()
			want := []event{{Op: "bury", ID: 1, Text: tc.want}}
			if diff := cmp.Diff(want, h.store.waitEvents(t, 1)); diff != "" {
				t.Fatalf("store calls (-want +got):\n%s", diff)
			}
			if n := len(chat.Calls()); n != 0 {
				t.Fatalf("notifier called %d times with an undecodable envelope", n)
			}
		})
	}
}

const bareMessage = `{"version":"4","groupKey":"{}:{}","status":"firing","receiver":"ops",` +
	`"alerts":[{"status":"firing","labels":{"alertname":"Test"},"startsAt":"2026-03-01T12:00:00Z","fingerprint":"a"}]}`

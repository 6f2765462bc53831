package alert

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func readFixture(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/firing.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecodeFiring(t *testing.T) {
	m, err := Decode(bytes.NewReader(readFixture(t)))
	if err != nil {
		t.Fatal(err)
	}
	if m.NotificationReason != "first notification" || len(m.Alerts) != 2 {
		t.Fatalf("decoded %+v", m)
	}
	want := Alert{
		Status:       StatusFiring,
		Labels:       map[string]string{"alertname": "HighErrorRate", "job": "api", "instance": "api-1:8080", "severity": "critical"},
		Annotations:  map[string]string{"summary": "api answers 5% or more with 5xx", "description": "7.3% of requests failed", "runbook_url": "higherrorrate"},
		StartsAt:     time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC),
		GeneratorURL: "http://prometheus:9090/graph?g0.expr=x",
		Fingerprint:  "1a2b3c4d5e6f7a8b",
	}
	if diff := cmp.Diff(want, m.Alerts[0]); diff != "" {
		t.Errorf("first alert (-want +got):\n%s", diff)
	}
	if got := len(m.Firing()); got != 1 {
		t.Errorf("Firing() has %d alerts, want 1", got)
	}
	if got := len(m.Resolved()); got != 1 {
		t.Errorf("Resolved() has %d alerts, want 1", got)
	}
	if got := m.Severity(); got != "critical" {
		t.Errorf("Severity() = %q", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := string(readFixture(t))
	for _, tc := range []struct{ name, body, field, reason string }{
		{"empty", "", "", "empty body: expected an Alertmanager webhook payload"},
		{"not json", "hello", "", "invalid JSON at byte 1: invalid character 'h' looking for beginning of value"},
		{"truncated", valid[:200], "", "truncated JSON"},
		{"trailing", valid + "{}", "", "trailing data after the JSON object"},
		{"trailing closers", valid + "}]}", "", "trailing data after the JSON object"},
		{"array", "[]", "", "must be an object, not array"},
		{"version", strings.Replace(valid, `"version": "4"`, `"version": "3"`, 1), "version", `must be "4" (Alertmanager's webhook version), not "3"`},
		{"version type", strings.Replace(valid, `"version": "4"`, `"version": 4`, 1), "version", "must be a string, not number"},
		{"no group key", strings.Replace(valid, `"groupKey": "{}/{severity=\"critical\"}:{alertname=\"HighErrorRate\", job=\"api\"}"`, `"groupKey": ""`, 1), "groupKey", "must not be empty"},
		{"status", strings.Replace(valid, `"status": "firing",
  "receiver"`, `"status": "burning",
  "receiver"`, 1), "status", `must be firing or resolved, not "burning"`},
		{"no alerts", `{"version":"4","groupKey":"g","status":"firing","alerts":[]}`, "alerts", "must hold at least one alert"},
		{"alert status", `{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"up","labels":{"alertname":"A"},"fingerprint":"f"}]}`, "alerts[0].status", `must be firing or resolved, not "up"`},
		{"no alertname", `{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"job":"a"},"fingerprint":"f"}]}`, "alerts[0].labels.alertname", "must be set"},
		{"labels type", `{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":["a"],"fingerprint":"f"}]}`, "alerts.labels", "must be an object, not array"},
		{"bad time", `{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"},"fingerprint":"f","startsAt":"yesterday"}]}`, "", `a timestamp is not RFC 3339: "yesterday"`},
		{"no fingerprint", `{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"}}]}`, "alerts[0].fingerprint", "must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.body))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v (%T), want a *FieldError", err, err)
			}
			if fe.Field != tc.field || fe.Reason != tc.reason {
				t.Errorf("got field %q reason %q\nwant field %q reason %q", fe.Field, fe.Reason, tc.field, tc.reason)
			}
		})
	}
}

func TestDecodeAllowsTrailingSpace(t *testing.T) {
	if _, err := Decode(strings.NewReader(string(readFixture(t)) + " \r\n\t\n")); err != nil {
		t.Errorf("white space after the object must be allowed: %v", err)
	}
}

func TestDecodeIgnoresUnknownKeys(t *testing.T) {
	body := `{"version":"4","groupKey":"g","status":"firing","newKey":{"x":1},"alerts":[{"status":"firing","labels":{"alertname":"A"},"fingerprint":"f","extra":true}]}`
	if _, err := Decode(strings.NewReader(body)); err != nil {
		t.Errorf("unknown keys must be ignored: %v", err)
	}
}

func TestIncidentKey(t *testing.T) {
	a := IncidentKey("critical", `{}:{alertname="A"}`)
	if len(a) != 64 {
		t.Errorf("key %q is not a hex sha256", a)
	}
	if a != IncidentKey("critical", `{}:{alertname="A"}`) {
		t.Error("key is not stable")
	}
	if a == IncidentKey("warning", `{}:{alertname="A"}`) {
		t.Error("the same group on two routes must be two incidents")
	}
	// The separator keeps route and group key apart.
	if IncidentKey("a", "bc") == IncidentKey("ab", "c") {
		t.Error("route and group key run together")
	}
}

func TestStateHash(t *testing.T) {
	base, err := Decode(bytes.NewReader(readFixture(t)))
	if err != nil {
		t.Fatal(err)
	}
	same, _ := Decode(bytes.NewReader(readFixture(t)))
	same.Alerts[0], same.Alerts[1] = same.Alerts[1], same.Alerts[0]
	same.NotificationReason = "repeat interval elapsed"
	same.Alerts[0].Annotations = map[string]string{"description": "value changed"}
	if base.StateHash() != same.StateHash() {
		t.Error("order, reason and annotations must not change the state")
	}

	resolved, _ := Decode(bytes.NewReader(readFixture(t)))
	resolved.Alerts[0].Status = StatusResolved
	if base.StateHash() == resolved.StateHash() {
		t.Error("an alert resolving must change the state")
	}
	added, _ := Decode(bytes.NewReader(readFixture(t)))
	added.Alerts = append(added.Alerts, Alert{Status: StatusFiring, Fingerprint: "ffff"})
	if base.StateHash() == added.StateHash() {
		t.Error("a new alert must change the state")
	}
}

func TestSeverity(t *testing.T) {
	m := &Message{Alerts: []Alert{
		{Status: StatusFiring, Labels: map[string]string{"severity": "warning"}},
		{Status: StatusFiring, Labels: map[string]string{"severity": "Critical"}},
		{Status: StatusFiring, Labels: map[string]string{}},
	}}
	if got := m.Severity(); got != "critical" {
		t.Errorf("Severity() = %q, want the highest, lower-cased", got)
	}
	m.CommonLabels = map[string]string{"severity": "info"}
	if got := m.Severity(); got != "info" {
		t.Errorf("Severity() = %q, want the common label", got)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	m, err := Decode(bytes.NewReader(readFixture(t)))
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, again); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// FuzzDecode feeds arbitrary bodies to Decode: it must never panic, and
// whatever it accepts must be valid and survive a round trip.
func FuzzDecode(f *testing.F) {
	f.Add(readFixture(f))
	f.Add([]byte(`{"version":"4","groupKey":"g","status":"resolved","alerts":[{"status":"resolved","labels":{"alertname":"A"},"fingerprint":"f"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{}]}`))
	f.Add([]byte(`{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"\u0000"},"fingerprint":"f","startsAt":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Decode(bytes.NewReader(body))
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid payload: %v", err)
		}
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(bytes.NewReader(data)); err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		_ = m.StateHash()
		_ = m.Severity()
	})
}

func TestShortID(t *testing.T) {
	key := IncidentKey("critical", "{}:{alertname=\"HighErrorRate\"}")
	if got := ShortID(key); got != key[:8] || len(got) != ShortIDLength {
		t.Errorf("ShortID(%s) = %q, want its first %d characters", key, got, ShortIDLength)
	}
	if got := ShortID("k1"); got != "k1" {
		t.Errorf("ShortID(k1) = %q, want it unchanged", got)
	}
}

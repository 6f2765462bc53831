package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
)

// fuzzNotifiers are a channel with the default body and one with the
// Mattermost example's, which builds its text with print and toJson.
func fuzzNotifiers(tb testing.TB) (def, custom *Notifier) {
	tb.Helper()
	def, err := New(decode(tb, "url: https://hooks.example.com/x\n"), notify.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	custom, err = New(decode(tb, "url: https://hooks.example.com/x\n"+exampleMattermost), notify.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return def, custom
}

// FuzzRender: whatever the alerts hold, the default body is JSON that
// the receiver's own decoder reads back as the payload it came from, and
// a custom body built with toJson is JSON holding the alert's text.
func FuzzRender(f *testing.F) {
	notifytest.FuzzSeed(f)
	def, custom := fuzzNotifiers(f)
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if notifytest.FuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		n := notifytest.FuzzNotification("hook", alertname, severity, label, summary, description, runbook, count, status)
		body, err := def.body(n)
		if err != nil {
			t.Fatalf("rendering the default body: %v", err)
		}
		if err := fuzzCheckDefault(n, body); err != nil {
			t.Error(err)
		}
		body, err = custom.body(n)
		if err != nil {
			t.Fatalf("rendering the custom body: %v", err)
		}
		if err := fuzzCheckCustom(n, body); err != nil {
			t.Error(err)
		}
	})
}

// fuzzCheckDefault says what is wrong with a default body for n.
func fuzzCheckDefault(n *notify.Notification, body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("the default body is not valid UTF-8")
	}
	got, err := alert.Decode(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the default body is not an Alertmanager payload: %w", err)
	}
	if diff := cmp.Diff(n.Message, got); diff != "" {
		return fmt.Errorf("the default body's payload (-sent +read back):\n%s", diff)
	}
	var p defaultPayload
	if err := json.Unmarshal(body, &p); err != nil || p.Klaxon.IncidentKey != n.IncidentKey || p.Klaxon.Kind != string(n.Kind) {
		return fmt.Errorf("the default body's klaxon fields %+v (%v), want those of the notification", p.Klaxon, err)
	}
	return nil
}

// fuzzCheckCustom says what is wrong with the Mattermost example's body
// for n: it must be JSON whose text holds the first alert's summary as
// it was.
func fuzzCheckCustom(n *notify.Notification, body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("the custom body is not valid UTF-8")
	}
	var p struct{ Text string }
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("the custom body is not JSON: %w\n%s", err, body)
	}
	if summary := n.Message.Alerts[0].Annotations["summary"]; !bytes.Contains([]byte(p.Text), []byte(": "+summary+"\n")) {
		return fmt.Errorf("the custom body's text %q does not hold the summary %q", p.Text, summary)
	}
	return nil
}

// TestFuzzChecksCatch: the fuzz checks fail on broken bodies.
func TestFuzzChecksCatch(t *testing.T) {
	def, custom := fuzzNotifiers(t)
	n := notifytest.FuzzNotification("hook", "Fuzz", "critical", "team", `say "hi"`, "d", "r", 2, "firing")
	good, err := def.body(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := fuzzCheckDefault(n, good); err != nil {
		t.Fatalf("a good default body fails: %v", err)
	}
	for name, body := range map[string][]byte{
		"not JSON":     good[:len(good)/2],
		"invalid UTF8": append(bytes.Clone(good), 0xff),
		"other status": bytes.Replace(good, []byte(`"status": "firing"`), []byte(`"status": "resolved"`), 1),
		"no klaxon":    bytes.Replace(good, []byte(`"klaxon"`), []byte(`"other"`), 1),
	} {
		if fuzzCheckDefault(n, body) == nil {
			t.Errorf("default body %s passes", name)
		}
	}
	goodCustom, err := custom.body(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := fuzzCheckCustom(n, goodCustom); err != nil {
		t.Fatalf("a good custom body fails: %v", err)
	}
	for name, body := range map[string][]byte{
		"raw quote":  bytes.Replace(goodCustom, []byte(`\"hi\"`), []byte(`"hi"`), 1),
		"no summary": bytes.Replace(goodCustom, []byte(`hi`), []byte(`ho`), 1),
	} {
		if fuzzCheckCustom(n, body) == nil {
			t.Errorf("custom body %s passes", name)
		}
	}
}

package webhook

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
)

// FuzzDefaultBody: whatever the alerts hold, the default body is JSON
// that the receiver's own decoder reads back as the payload it came from.
func FuzzDefaultBody(f *testing.F) {
	notifytest.FuzzSeed(f)
	w, err := New(&Config{URL: "https://hooks.example.com/x", Method: DefaultMethod, ContentType: DefaultContentType,
		Timeout: DefaultTimeout}, notify.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if notifytest.FuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		n := notifytest.FuzzNotification("hook", alertname, severity, label, summary, description, runbook, count, status)
		body, err := w.body(n)
		if err != nil {
			t.Fatalf("rendering the body: %v", err)
		}
		got, err := alert.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("the body is not an Alertmanager payload: %v", err)
		}
		if diff := cmp.Diff(n.Message, got); diff != "" {
			t.Errorf("payload (-sent +read back):\n%s", diff)
		}
	})
}

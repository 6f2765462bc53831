package pagerduty

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
)

// fuzzKey is a well-formed routing key for the fuzzed events.
const fuzzKey = "R0123456789abcdefFUZZKEY00000001"

// fuzzNotifier is a channel with the default texts.
func fuzzNotifier(tb testing.TB) *Notifier {
	tmpl, err := notify.NewTemplate(nil)
	if err != nil {
		tb.Fatal(err)
	}
	c := &Config{RoutingKey: fuzzKey, URL: DefaultURL, Summary: DefaultSummary, Source: DefaultSource,
		Severity: DefaultSeverities(), DefaultSeverity: DefaultSeverity, Client: DefaultClient, Timeout: DefaultTimeout}
	p, err := New(c, notify.Options{Template: tmpl, Logger: promslog.NewNopLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// FuzzRender renders fuzzed alert groups into events, as Notify does
// before sending, and checks each against PagerDuty's rules: it must not
// panic or fail, and the event must be valid UTF-8 and within every limit
// of the Events API.
func FuzzRender(f *testing.F) {
	notifytest.FuzzSeed(f)
	p := fuzzNotifier(f)
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if notifytest.FuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		n := notifytest.FuzzNotification("pager", alertname, severity, label, summary, description, runbook, count, status)
		ev, err := p.event(n, fuzzKey)
		if err != nil {
			t.Fatalf("rendering the event: %v", err)
		}
		if err := p.fit(ev, n); err != nil {
			t.Fatalf("fitting the event: %v", err)
		}
		if bad := notifytest.InvalidUTF8("event", reflect.ValueOf(ev)); len(bad) > 0 {
			t.Errorf("invalid UTF-8 in %s", strings.Join(bad, ", "))
		}
		body, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("encoding the event: %v", err)
		}
		for _, problem := range fuzzCheckEvent(n, body) {
			t.Error(problem)
		}
	})
}

// fuzzCheckEvent lists what PagerDuty would reject in body, n's event.
func fuzzCheckEvent(n *notify.Notification, body []byte) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(body) > pagerdutytest.MaxEventBytes {
		add("event is %d bytes, over %d", len(body), pagerdutytest.MaxEventBytes)
	}
	if !utf8.Valid(body) {
		add("event is not valid UTF-8")
	}
	var ev pagerdutytest.Event
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return append(problems, fmt.Sprintf("event does not decode: %v", err))
	}
	want := "resolve"
	if n.Kind == notify.KindTrigger {
		want = "trigger"
	}
	switch {
	case ev.RoutingKey != fuzzKey:
		add("routing_key %q, want the configured key", ev.RoutingKey)
	case ev.EventAction != want:
		add("event_action %q, want %q", ev.EventAction, want)
	case ev.DedupKey != n.IncidentKey || utf8.RuneCountInString(ev.DedupKey) > pagerdutytest.MaxDedupKey:
		add("dedup_key %q, want the incident key %q", ev.DedupKey, n.IncidentKey)
	}
	if want == "trigger" {
		problems = append(problems, fuzzCheckTrigger(&ev)...)
	}
	return problems
}

// fuzzCheckTrigger lists what PagerDuty would reject in a trigger event.
func fuzzCheckTrigger(ev *pagerdutytest.Event) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	p := ev.Payload
	if p == nil {
		return []string{"trigger event without payload"}
	}
	if strings.TrimSpace(p.Summary) == "" || utf8.RuneCountInString(p.Summary) > pagerdutytest.MaxSummary {
		add("payload.summary has %d characters, want 1 to %d", utf8.RuneCountInString(p.Summary), pagerdutytest.MaxSummary)
	}
	if strings.TrimSpace(p.Source) == "" {
		add("payload.source is blank")
	}
	if !slices.Contains([]string{"critical", "error", "warning", "info"}, p.Severity) {
		add("payload.severity %q is not one of PagerDuty's", p.Severity)
	}
	if p.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339, p.Timestamp); err != nil {
			add("payload.timestamp %q is not ISO 8601: %v", p.Timestamp, err)
		}
	}
	for i, l := range ev.Links {
		if l.Href == "" {
			add("links[%d].href is empty", i)
		}
	}
	return problems
}

// TestFuzzChecksCatch proves that FuzzRender's checks can fail: a sound
// event passes them, and each broken one is caught.
func TestFuzzChecksCatch(t *testing.T) {
	p := fuzzNotifier(t)
	n := notifytest.FuzzNotification("pager", "HighErrorRate", "critical", "api-1", "summary", "description", "https://runbooks.example.com/x", 1, "firing")
	for _, tc := range []struct {
		name  string
		mess  func(*Event)
		wantN int
	}{
		{"sound", func(*Event) {}, 0},
		{"long summary", func(ev *Event) { ev.Payload.Summary = strings.Repeat("x", pagerdutytest.MaxSummary+1) }, 1},
		{"blank source", func(ev *Event) { ev.Payload.Source = " " }, 1},
		{"bad severity", func(ev *Event) { ev.Payload.Severity = "fatal" }, 1},
		{"other dedup key", func(ev *Event) { ev.DedupKey = "x" }, 1},
		{"resolve", func(ev *Event) { ev.EventAction = "resolve" }, 1},
		{"too large", func(ev *Event) { ev.Payload.CustomDetails["x"] = strings.Repeat("x", pagerdutytest.MaxEventBytes) }, 1},
		{"empty link", func(ev *Event) { ev.Links = append(ev.Links, Link{Text: "x"}) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := p.event(n, fuzzKey)
			if err != nil {
				t.Fatal(err)
			}
			tc.mess(ev)
			body, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := fuzzCheckEvent(n, body); len(got) != tc.wantN {
				t.Errorf("problems %q, want %d", got, tc.wantN)
			}
		})
	}
	if bad := notifytest.InvalidUTF8("event", reflect.ValueOf(&Event{Payload: &Payload{CustomDetails: map[string]any{"k": []string{"\xff"}}}})); len(bad) != 1 {
		t.Errorf("invalid UTF-8 found at %q, want one place", bad)
	}
}

package pagerduty

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
)

// fuzzMaxAlerts bounds the fuzzed group size.
const fuzzMaxAlerts = 80

// fuzzKey is a well-formed routing key for the fuzzed events.
const fuzzKey = "R0123456789abcdefFUZZKEY00000001"

// fuzzHostile are texts that try to escape their field: mentions of every
// upstream, markup, template actions, entities, control and invisible
// characters, invalid UTF-8.
var fuzzHostile = []string{
	"", " ", "@everyone", "@here", "<!channel>", "<!here|here>", "<!everyone>", "<@U0123ABCD>",
	"<!subteam^S0123ABCD|@oncall>", "<@&123456789012345678>", "<@!123456789012345678>", "<#C0123ABCD>",
	"<https://evil.example|click>", "&lt;!channel&gt;", "&amp;", "&<>", "**bold** _it_ ~s~ `code` ```block```",
	"> quote\n- item\n# heading", "||spoiler|| [click](https://evil.example)", `{{ .ExternalURL }}`,
	`{{ template "__subject" . }}`, "@\u200beveryone", "<<!channel>>", "<!date^0^{date}|x>", `\<!channel\>`,
	"a\x00b\tc\r\nd", "e\u0301 🔥 \u202egnp.exe", "\xff\xfe\xc3", "https://runbooks.example.com/x?a=<b>&c=|d",
	"javascript:alert(1)", "http://user:pass@host/(x)",
}

// fuzzLong are long values, each past some upstream's limit in a group
// of 80 alerts; fuzzHuge is past all of them in a single alert.
var (
	fuzzLong = []string{
		strings.Repeat("é", 750), strings.Repeat("<!channel>", 150), strings.Repeat("&", 1500),
		strings.Repeat("🔥", 375), strings.Repeat("@everyone ", 150),
	}
	fuzzHuge = strings.Repeat("a ", 50000)
)

// fuzzSeed adds the seed corpus: each hostile text in every field, then
// long values in large groups and a huge one in a single alert.
func fuzzSeed(f *testing.F) {
	statuses := []string{"firing", "resolved", "\x00\x01", ""}
	for i, h := range fuzzHostile {
		f.Add(h, "critical", h, h, h, h, uint8(i), statuses[i%len(statuses)])
	}
	for i, l := range fuzzLong {
		f.Add("HighErrorRate", "warning", l, l, l, "https://runbooks.example.com/"+l, uint8(fuzzMaxAlerts-1), statuses[i%len(statuses)])
		f.Add(l, l, l, "summary", "description", "runbook", uint8(i), "firing")
	}
	f.Add(fuzzHuge, fuzzHuge, fuzzHuge, fuzzHuge, fuzzHuge, "https://runbooks.example.com/"+fuzzHuge, uint8(0), "firing")
}

// fuzzNotification is the notification FuzzRender renders: count%80+1
// alerts carrying the fuzzed texts, as the receiver would hold them after
// decoding Alertmanager's JSON (so valid UTF-8). status "firing" and
// "resolved" set every alert; any other string sets each alert by the
// parity of one of its bytes.
func fuzzNotification(alertname, severity, label, summary, description, runbook string, count uint8, status string) *notify.Notification {
	clean := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	alertname, severity, label = clean(alertname), clean(severity), clean(label)
	summary, description, runbook = clean(summary), clean(description), clean(runbook)
	if alertname == "" {
		alertname = "Fuzz"
	}
	m := &alert.Message{
		Version: "4", GroupKey: fmt.Sprintf("{}:{alertname=%q}", alertname), Receiver: "klaxon",
		GroupLabels: map[string]string{"alertname": alertname}, ExternalURL: "http://alertmanager:9093",
		TruncatedAlerts: uint64(len(status)),
	}
	n := int(count)%fuzzMaxAlerts + 1
	for i := range n {
		labels := map[string]string{"alertname": alertname, "severity": severity, "team": label, "instance": fmt.Sprintf("%s-%d", label, i)}
		if _, taken := labels[label]; label != "" && !taken {
			labels[label] = label
		}
		a := alert.Alert{
			Status: fuzzStatus(status, i), Labels: labels,
			Annotations:  map[string]string{"summary": summary, "description": description, "runbook_url": runbook, "value": label},
			StartsAt:     fuzzStart,
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=" + url.QueryEscape(alertname),
			Fingerprint:  fmt.Sprintf("%016x", i),
		}
		if a.Status == alert.StatusResolved {
			a.EndsAt = fuzzStart.Add(time.Duration(i+1) * time.Minute)
		}
		m.Alerts = append(m.Alerts, a)
	}
	m.Status = alert.StatusResolved
	m.CommonLabels = fuzzCommon(m.Alerts, func(a alert.Alert) map[string]string { return a.Labels })
	m.CommonAnnotations = fuzzCommon(m.Alerts, func(a alert.Alert) map[string]string { return a.Annotations })
	kind := notify.KindResolve
	if len(m.Firing()) > 0 {
		m.Status, kind = alert.StatusFiring, notify.KindTrigger
	}
	return &notify.Notification{ID: 1, Channel: "pager", Route: "ops", Kind: kind, Message: m,
		IncidentKey: alert.IncidentKey("ops", m.GroupKey), CreatedAt: fuzzStart}
}

var fuzzStart = time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)

// fuzzMaxPayload bounds the text of one fuzzed group: 1 MiB, far past
// every upstream's limit, so that larger inputs, which only slow the
// fuzzer, are skipped.
const fuzzMaxPayload = 1 << 20

// fuzzTooLarge says whether the group FuzzRender would build from these
// inputs holds more than fuzzMaxPayload of text: label is used four times
// in every alert, the others once.
func fuzzTooLarge(count uint8, alertname, severity, label, summary, description, runbook string) bool {
	size := len(alertname) + len(severity) + 4*len(label) + len(summary) + len(description) + len(runbook)
	return (int(count)%fuzzMaxAlerts+1)*size > fuzzMaxPayload
}

// fuzzStatus is alert i's status for the fuzzed status string.
func fuzzStatus(status string, i int) string {
	switch status {
	case alert.StatusFiring, "":
		return alert.StatusFiring
	case alert.StatusResolved:
		return alert.StatusResolved
	}
	if status[i%len(status)]%2 == 1 {
		return alert.StatusResolved
	}
	return alert.StatusFiring
}

// fuzzCommon is what Alertmanager sends as common labels or annotations:
// the pairs every alert has.
func fuzzCommon(alerts []alert.Alert, of func(alert.Alert) map[string]string) map[string]string {
	common := maps.Clone(of(alerts[0]))
	for _, a := range alerts[1:] {
		maps.DeleteFunc(common, func(k, v string) bool {
			w, ok := of(a)[k]
			return !ok || w != v
		})
	}
	return common
}

// fuzzInvalidUTF8 lists the strings in v, by path, that are not valid
// UTF-8. It looks before encoding, as encoding/json would silently
// replace the broken bytes.
func fuzzInvalidUTF8(path string, v reflect.Value) []string {
	var out []string
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			out = append(out, path)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			out = fuzzInvalidUTF8(path, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			out = append(out, fuzzInvalidUTF8(path+"."+v.Type().Field(i).Name, v.Field(i))...)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			out = append(out, fuzzInvalidUTF8(fmt.Sprintf("%s[%d]", path, i), v.Index(i))...)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			k := fmt.Sprint(it.Key())
			out = append(out, fuzzInvalidUTF8(path+" key", it.Key())...)
			out = append(out, fuzzInvalidUTF8(path+"["+k+"]", it.Value())...)
		}
	}
	return out
}

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
	fuzzSeed(f)
	p := fuzzNotifier(f)
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if fuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		n := fuzzNotification(alertname, severity, label, summary, description, runbook, count, status)
		ev, err := p.event(n, fuzzKey)
		if err != nil {
			t.Fatalf("rendering the event: %v", err)
		}
		if err := p.fit(ev, n); err != nil {
			t.Fatalf("fitting the event: %v", err)
		}
		if bad := fuzzInvalidUTF8("event", reflect.ValueOf(ev)); len(bad) > 0 {
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
	n := fuzzNotification("HighErrorRate", "critical", "api-1", "summary", "description", "https://runbooks.example.com/x", 1, "firing")
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
	if bad := fuzzInvalidUTF8("event", reflect.ValueOf(&Event{Payload: &Payload{CustomDetails: map[string]any{"k": []string{"\xff"}}}})); len(bad) != 1 {
		t.Errorf("invalid UTF-8 found at %q, want one place", bad)
	}
}

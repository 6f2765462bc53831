package opsgenie

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

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/opsgenie/opsgenietest"
)

// fuzzMaxDetails is the limit quoted for details, keys and values
// together: 8000 characters (Alert API, as quoted by third parties).
const fuzzMaxDetails = 8000

// fuzzMaxSource is the stricter of the two limits quoted for source.
const fuzzMaxSource = 100

// fuzzMaxAlerts bounds the fuzzed group size.
const fuzzMaxAlerts = 80

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
	return &notify.Notification{ID: 1, Channel: "genie", Route: "ops", Kind: kind, Message: m,
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

// fuzzResponders are the configured responders every alert must carry.
var fuzzResponders = []Responder{{Type: "team", Name: "ops"}, {Type: "user", Username: "oncall@example.com"}}

// fuzzNotifier is a channel with the default texts, two tags and two
// responders.
func fuzzNotifier(tb testing.TB) *Notifier {
	tmpl, err := notify.NewTemplate(nil)
	if err != nil {
		tb.Fatal(err)
	}
	c := &Config{APIKey: "fuzz-genie-key", Region: DefaultRegion, Message: DefaultMessage, Priorities: DefaultPriorities(),
		DefaultPriority: DefaultPriority, Tags: []string{"klaxon", "team:ops"}, Responders: fuzzResponders,
		Source: DefaultSource, Timeout: DefaultTimeout}
	o, err := New(c, notify.Options{Template: tmpl, Logger: promslog.NewNopLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// FuzzRender renders fuzzed alert groups into requests, as Notify does
// before sending, and checks each against Opsgenie's rules: it must not
// panic or fail, and the request must be valid UTF-8 and within every
// limit of the Alert API.
func FuzzRender(f *testing.F) {
	fuzzSeed(f)
	o := fuzzNotifier(f)
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if fuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		n := fuzzNotification(alertname, severity, label, summary, description, runbook, count, status)
		path, req, err := o.request(n)
		if err != nil {
			t.Fatalf("rendering the request: %v", err)
		}
		if bad := fuzzInvalidUTF8("request", reflect.ValueOf(req)); len(bad) > 0 {
			t.Errorf("invalid UTF-8 in %s", strings.Join(bad, ", "))
		}
		body, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("encoding the request: %v", err)
		}
		if !utf8.Valid(body) {
			t.Error("request is not valid UTF-8")
		}
		check := fuzzCheckCreate
		if n.Kind == notify.KindResolve {
			check = fuzzCheckClose
		}
		for _, problem := range check(n, path, body) {
			t.Error(problem)
		}
	})
}

// fuzzCheckCreate lists what Opsgenie would reject in a create request.
func fuzzCheckCreate(n *notify.Notification, path string, body []byte) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if path != "/v2/alerts" {
		add("create posted to %q", path)
	}
	var a opsgenietest.Alert
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return append(problems, fmt.Sprintf("request does not decode as an alert: %v", err))
	}
	length := utf8.RuneCountInString
	if strings.TrimSpace(a.Message) == "" || length(a.Message) > opsgenietest.MaxMessage {
		add("message has %d characters, want 1 to %d", length(a.Message), opsgenietest.MaxMessage)
	}
	if a.Alias != n.IncidentKey || length(a.Alias) > opsgenietest.MaxAlias {
		add("alias %q, want the incident key %q", a.Alias, n.IncidentKey)
	}
	if length(a.Description) > opsgenietest.MaxDescription {
		add("description has %d characters, over %d", length(a.Description), opsgenietest.MaxDescription)
	}
	if len(a.Tags) > opsgenietest.MaxTags {
		add("%d tags, over %d", len(a.Tags), opsgenietest.MaxTags)
	}
	for _, tag := range a.Tags {
		if strings.TrimSpace(tag) == "" || length(tag) > opsgenietest.MaxTagLength {
			add("tag %q has %d characters, want 1 to %d", tag, length(tag), opsgenietest.MaxTagLength)
		}
	}
	size := 0
	for k, v := range a.Details {
		size += length(k) + length(v)
	}
	if size > fuzzMaxDetails {
		add("details have %d characters, over %d", size, fuzzMaxDetails)
	}
	if length(a.Source) > fuzzMaxSource {
		add("source has %d characters, over %d", length(a.Source), fuzzMaxSource)
	}
	if !slices.Contains([]string{"P1", "P2", "P3", "P4", "P5"}, a.Priority) {
		add("priority %q is not one of P1 to P5", a.Priority)
	}
	var want []opsgenietest.Responder
	for _, r := range fuzzResponders {
		want = append(want, opsgenietest.Responder(r))
	}
	if diff := cmp.Diff(want, a.Responders); diff != "" {
		add("responders are not the configured ones (-want +got):\n%s", diff)
	}
	return problems
}

// fuzzCheckClose lists what Opsgenie would reject in a close request, or
// what would make it close another alert.
func fuzzCheckClose(n *notify.Notification, path string, body []byte) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	u, err := url.Parse(path)
	if err != nil {
		return []string{fmt.Sprintf("close path %q does not parse: %v", path, err)}
	}
	alias, ok := strings.CutPrefix(u.Path, "/v2/alerts/")
	alias, closing := strings.CutSuffix(alias, "/close")
	switch {
	case !ok || !closing || u.Query().Get("identifierType") != "alias":
		add("close request to %q, want /v2/alerts/{alias}/close?identifierType=alias", path)
	case alias != n.IncidentKey || utf8.RuneCountInString(alias) > opsgenietest.MaxAlias:
		add("closes alias %q, want the incident key %q", alias, n.IncidentKey)
	}
	var c opsgenietest.Close
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		add("close body does not decode: %v", err)
	}
	return problems
}

// TestFuzzChecksCatch proves that FuzzRender's checks can fail: sound
// requests pass them, and each broken one is caught.
func TestFuzzChecksCatch(t *testing.T) {
	o := fuzzNotifier(t)
	n := fuzzNotification("HighErrorRate", "critical", "api-1", "summary", "description", "https://runbooks.example.com/x", 1, "firing")
	for _, tc := range []struct {
		name  string
		mess  func(*createRequest)
		wantN int
	}{
		{"sound", func(*createRequest) {}, 0},
		{"long message", func(r *createRequest) { r.Message = strings.Repeat("x", opsgenietest.MaxMessage+1) }, 1},
		{"blank message", func(r *createRequest) { r.Message = " " }, 1},
		{"other alias", func(r *createRequest) { r.Alias = "x" }, 1},
		{"long description", func(r *createRequest) { r.Description = strings.Repeat("x", opsgenietest.MaxDescription+1) }, 1},
		{"too many tags", func(r *createRequest) { r.Tags = make([]string, opsgenietest.MaxTags+1) }, 1 + opsgenietest.MaxTags + 1},
		{"long tag", func(r *createRequest) { r.Tags = append(r.Tags, strings.Repeat("x", opsgenietest.MaxTagLength+1)) }, 1},
		{"long details", func(r *createRequest) { r.Details["x"] = strings.Repeat("x", fuzzMaxDetails) }, 1},
		{"long source", func(r *createRequest) { r.Source = strings.Repeat("x", fuzzMaxSource+1) }, 1},
		{"bad priority", func(r *createRequest) { r.Priority = "P0" }, 1},
		{"no responders", func(r *createRequest) { r.Responders = nil }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, req, err := o.request(n)
			if err != nil {
				t.Fatal(err)
			}
			tc.mess(req.(*createRequest))
			body, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := fuzzCheckCreate(n, path, body); len(got) != tc.wantN {
				t.Errorf("problems %q, want %d", got, tc.wantN)
			}
		})
	}
	n.Kind = notify.KindResolve
	for path, wantN := range map[string]int{
		"/v2/alerts/" + n.IncidentKey + "/close?identifierType=alias": 0,
		"/v2/alerts/" + n.IncidentKey + "/close":                      1,
		"/v2/alerts/x/close?identifierType=alias":                     1,
	} {
		if got := fuzzCheckClose(n, path, []byte(`{"source":"klaxon-receiver"}`)); len(got) != wantN {
			t.Errorf("close to %s: problems %q, want %d", path, got, wantN)
		}
	}
}

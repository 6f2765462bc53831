// Package notifytest holds what the integrations' tests share: alert groups
// to render (fixtures.go), the fuzz corpus of hostile and oversized texts and
// the alert group built from a fuzz input, and a check for invalid UTF-8 in a
// request before encoding.
package notifytest

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
)

// FuzzMaxAlerts bounds the fuzzed group size.
const FuzzMaxAlerts = 80

// Hostile are texts that try to escape their field: mentions of every
// upstream, markup, template actions, entities, control and invisible
// characters, invalid UTF-8.
var Hostile = []string{
	"", " ", "@everyone", "@here", "<!channel>", "<!here|here>", "<!everyone>", "<@U0123ABCD>",
	"<!subteam^S0123ABCD|@oncall>", "<@&123456789012345678>", "<@!123456789012345678>", "<#C0123ABCD>",
	"<https://evil.example|click>", "&lt;!channel&gt;", "&amp;", "&<>", "**bold** _it_ ~s~ `code` ```block```",
	"> quote\n- item\n# heading", "||spoiler|| [click](https://evil.example)", `{{ .ExternalURL }}`,
	`{{ template "__subject" . }}`, "@\u200beveryone", "<<!channel>>", "<!date^0^{date}|x>", `\<!channel\>`,
	"a\x00b\tc\r\nd", "e\u0301 🔥 \u202egnp.exe", "\xff\xfe\xc3", "https://runbooks.example.com/x?a=<b>&c=|d",
	"javascript:alert(1)", "http://user:pass@host/(x)",
}

// Long are long values, each past some upstream's limit in a group
// of 80 alerts; Huge is past all of them in a single alert.
var (
	Long = []string{
		strings.Repeat("é", 750), strings.Repeat("<!channel>", 150), strings.Repeat("&", 1500),
		strings.Repeat("🔥", 375), strings.Repeat("@everyone ", 150),
	}
	Huge = strings.Repeat("a ", 50000)
)

// FuzzSeed adds the seed corpus: each hostile text in every field, then
// long values in large groups and a huge one in a single alert.
func FuzzSeed(f *testing.F) {
	statuses := []string{"firing", "resolved", "\x00\x01", ""}
	for i, h := range Hostile {
		f.Add(h, "critical", h, h, h, h, uint8(i), statuses[i%len(statuses)])
	}
	for i, l := range Long {
		f.Add("HighErrorRate", "warning", l, l, l, "https://runbooks.example.com/"+l, uint8(FuzzMaxAlerts-1), statuses[i%len(statuses)])
		f.Add(l, l, l, "summary", "description", "runbook", uint8(i), "firing")
	}
	f.Add(Huge, Huge, Huge, Huge, Huge, "https://runbooks.example.com/"+Huge, uint8(0), "firing")
}

// FuzzNotification is the notification each integration's FuzzRender
// renders for channel: count%80+1 alerts carrying the fuzzed texts, as
// the receiver would hold them after decoding Alertmanager's JSON (so
// valid UTF-8). status "firing" and
// "resolved" set every alert; any other string sets each alert by the
// parity of one of its bytes.
func FuzzNotification(channel, alertname, severity, label, summary, description, runbook string, count uint8, status string) *notify.Notification {
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
	n := int(count)%FuzzMaxAlerts + 1
	for i := range n {
		labels := map[string]string{"alertname": alertname, "severity": severity, "team": label, "instance": fmt.Sprintf("%s-%d", label, i)}
		if _, taken := labels[label]; label != "" && !taken {
			labels[label] = label
		}
		a := alert.Alert{
			Status: fuzzStatus(status, i), Labels: labels,
			Annotations:  map[string]string{"summary": summary, "description": description, "runbook_url": runbook, "value": label},
			StartsAt:     FuzzStart,
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=" + url.QueryEscape(alertname),
			Fingerprint:  fmt.Sprintf("%016x", i),
		}
		if a.Status == alert.StatusResolved {
			a.EndsAt = FuzzStart.Add(time.Duration(i+1) * time.Minute)
		}
		m.Alerts = append(m.Alerts, a)
	}
	m.Status = alert.StatusResolved
	m.CommonLabels = common(m.Alerts, func(a alert.Alert) map[string]string { return a.Labels })
	m.CommonAnnotations = common(m.Alerts, func(a alert.Alert) map[string]string { return a.Annotations })
	kind := notify.KindResolve
	if len(m.Firing()) > 0 {
		m.Status, kind = alert.StatusFiring, notify.KindTrigger
	}
	return &notify.Notification{ID: 1, Channel: channel, Route: "ops", Kind: kind, Message: m,
		IncidentKey: alert.IncidentKey("ops", m.GroupKey), CreatedAt: FuzzStart}
}

// FuzzStart is when every fuzzed alert started.
var FuzzStart = time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)

// FuzzMaxPayload bounds the text of one fuzzed group: 1 MiB, far past
// every upstream's limit, so that larger inputs, which only slow the
// fuzzer, are skipped.
const FuzzMaxPayload = 1 << 20

// FuzzTooLarge says whether the group FuzzRender would build from these
// inputs holds more than FuzzMaxPayload of text: label is used four times
// in every alert, the others once.
func FuzzTooLarge(count uint8, alertname, severity, label, summary, description, runbook string) bool {
	size := len(alertname) + len(severity) + 4*len(label) + len(summary) + len(description) + len(runbook)
	return (int(count)%FuzzMaxAlerts+1)*size > FuzzMaxPayload
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

// common is what Alertmanager sends as common labels or annotations:
// the pairs every alert has.
func common(alerts []alert.Alert, of func(alert.Alert) map[string]string) map[string]string {
	common := maps.Clone(of(alerts[0]))
	for _, a := range alerts[1:] {
		maps.DeleteFunc(common, func(k, v string) bool {
			w, ok := of(a)[k]
			return !ok || w != v
		})
	}
	return common
}

// InvalidUTF8 lists the strings in v, by path, that are not valid
// UTF-8. It looks before encoding, as encoding/json would silently
// replace the broken bytes.
func InvalidUTF8(path string, v reflect.Value) []string {
	var out []string
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			out = append(out, path)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			out = InvalidUTF8(path, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			out = append(out, InvalidUTF8(path+"."+v.Type().Field(i).Name, v.Field(i))...)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			out = append(out, InvalidUTF8(fmt.Sprintf("%s[%d]", path, i), v.Index(i))...)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			k := fmt.Sprint(it.Key())
			out = append(out, InvalidUTF8(path+" key", it.Key())...)
			out = append(out, InvalidUTF8(path+"["+k+"]", it.Value())...)
		}
	}
	return out
}

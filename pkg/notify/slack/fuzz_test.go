package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
)

// Slack's limits on an incoming webhook message.
const (
	// fuzzMaxText: Slack truncates text past 40,000 characters.
	fuzzMaxText = 40000
	// fuzzMaxTitle: Slack's legacy attachment guidance keeps a title to
	// 1024 characters.
	fuzzMaxTitle = 1024
)

// fuzzMentions are the channel's mentions by severity, and
// fuzzMentionSeqs the sequences they send; fuzzEscalation are those
// escalation adds, of which only the valid ones send fuzzEscalationSeqs.
// Nothing else may notify anyone.
var (
	fuzzMentions = map[string][]Mention{
		"critical": {"U0FUZZ001", "S0FUZZ002", "here"},
		"warning":  {"W0FUZZ003"},
	}
	fuzzMentionSeqs = map[string][]string{
		"critical": {"<@U0FUZZ001>", "<!subteam^S0FUZZ002>", "<!here>"},
		"warning":  {"<@W0FUZZ003>"},
	}
	fuzzEscalation     = []string{"U0ESC0004", "S0ESC0005", "<!everyone>", "@channel"}
	fuzzEscalationSeqs = []string{"<@U0ESC0004>", "<!subteam^S0ESC0005>"}
)

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
	return &notify.Notification{ID: 1, Channel: "ops-slack", Route: "ops", Kind: kind, Message: m,
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

// fuzzNotifiers are the channels FuzzRender renders with: the built-in
// texts, and user templates that put the alerts' text in title and text.
func fuzzNotifiers(tb testing.TB) []*Notifier {
	tmpl, err := notify.NewTemplate(nil)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*Notifier
	for _, texts := range [][2]string{
		{"", ""},
		{`{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }} {{ .CommonLabels.team }}`,
			"{{ range .Alerts }}*{{ .Labels.alertname }}* {{ .Labels.team }}: {{ .Annotations.summary }}\n" +
				"{{ .Annotations.description }}\n{{ .Annotations.runbook_url }}\n{{ end }}"},
	} {
		c := &Config{WebhookURL: "https://hooks.slack.example/services/T0/B0/fuzz", Username: DefaultUsername,
			Title: texts[0], Text: texts[1], MaxAlerts: DefaultMaxAlerts, Mentions: fuzzMentions, Timeout: DefaultTimeout}
		n, err := New(c, notify.Options{Template: tmpl, Logger: promslog.NewNopLogger()})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// FuzzRender renders fuzzed alert groups into messages, as Notify does
// before sending, and checks each against Slack's rules: it must not panic
// or fail, the message must be valid UTF-8 and within Slack's limits, its
// text escaped, and no control sequence may come from an alert's text:
// the only mentions are those of the config and escalation.
func FuzzRender(f *testing.F) {
	fuzzSeed(f)
	notifiers := fuzzNotifiers(f)
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if fuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		for i, s := range notifiers {
			n := fuzzNotification(alertname, severity, label, summary, description, runbook, count, status)
			n.Mentions = fuzzEscalation
			msg, err := s.build(n)
			if err != nil {
				t.Fatalf("notifier %d: rendering the message: %v", i, err)
			}
			if bad := fuzzInvalidUTF8("message", reflect.ValueOf(msg)); len(bad) > 0 {
				t.Errorf("notifier %d: invalid UTF-8 in %s", i, strings.Join(bad, ", "))
			}
			body, err := json.Marshal(msg)
			if err != nil {
				t.Fatalf("notifier %d: encoding the message: %v", i, err)
			}
			for _, problem := range fuzzCheckMessage(n, body) {
				t.Errorf("notifier %d: %s", i, problem)
			}
		}
	})
}

// fuzzCheckMessage lists what Slack would reject or truncate in body, n's
// message, and every control sequence in it that did not come from the
// config.
func fuzzCheckMessage(n *notify.Notification, body []byte) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !utf8.Valid(body) {
		add("message is not valid UTF-8")
	}
	var m slacktest.Message
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return append(problems, fmt.Sprintf("message does not decode: %v", err))
	}
	length := utf8.RuneCountInString
	if length(m.Text) > fuzzMaxText {
		add("text has %d characters, over %d", length(m.Text), fuzzMaxText)
	}
	if len(m.Attachments) != 1 {
		add("%d attachments, want 1", len(m.Attachments))
	}
	mentions, bad := fuzzSequences(m.Text, true)
	problems = append(problems, fuzzPrefix("text", bad)...)
	if diff := cmp.Diff(fuzzWantMentions(n), mentions); diff != "" {
		add("mentions in text (-want +got):\n%s", diff)
	}
	for i, a := range m.Attachments {
		if length(a.Title) == 0 || length(a.Title) > fuzzMaxTitle {
			add("attachments[%d].title has %d characters, want 1 to %d", i, length(a.Title), fuzzMaxTitle)
		}
		for name, s := range map[string]string{"title": a.Title, "fallback": a.Fallback, "text": a.Text, "footer": a.Footer} {
			if length(s) > fuzzMaxText {
				add("attachments[%d].%s has %d characters, over %d", i, name, length(s), fuzzMaxText)
			}
			_, bad := fuzzSequences(s, false)
			problems = append(problems, fuzzPrefix(fmt.Sprintf("attachments[%d].%s", i, name), bad)...)
		}
	}
	return problems
}

// fuzzWantMentions are the sequences n's message must notify: the
// channel's for the group's severity and escalation's, when it fires.
func fuzzWantMentions(n *notify.Notification) []string {
	if n.Kind != notify.KindTrigger || n.Message.Status != alert.StatusFiring {
		return nil
	}
	return append(append([]string{}, fuzzMentionSeqs[n.Message.Severity()]...), fuzzEscalationSeqs...)
}

// fuzzSequences reads Slack text as Slack does and returns the mentions
// it notifies, with what is wrong in it: a "<" or ">" outside a control
// sequence, an "&" that starts no entity, or a sequence that is neither a
// link nor a date (and, unless mentionsAllowed, any mention).
func fuzzSequences(s string, mentionsAllowed bool) (mentions, problems []string) {
	for rest := s; rest != ""; {
		open, closing := strings.IndexByte(rest, '<'), strings.IndexByte(rest, '>')
		if open < 0 {
			problems = append(problems, fuzzEntities(rest)...)
			if closing >= 0 {
				problems = append(problems, fmt.Sprintf("stray \">\" in %q", fuzzAround(rest, closing)))
			}
			break
		}
		problems = append(problems, fuzzEntities(rest[:open])...)
		end := strings.IndexByte(rest[open:], '>')
		switch {
		case closing >= 0 && closing < open:
			problems = append(problems, fmt.Sprintf("stray \">\" in %q", fuzzAround(rest, closing)))
		case end < 0:
			problems = append(problems, fmt.Sprintf("unclosed \"<\" in %q", fuzzAround(rest, open)))
			return mentions, problems
		}
		seq := rest[open : open+end+1]
		inner := seq[1 : len(seq)-1]
		problems = append(problems, fuzzEntities(inner)...)
		switch {
		case strings.ContainsRune(inner, '<'):
			problems = append(problems, fmt.Sprintf("nested \"<\" in %q", seq))
		case strings.HasPrefix(inner, "http://"), strings.HasPrefix(inner, "https://"), strings.HasPrefix(inner, "!date^"):
		case mentionsAllowed && (strings.HasPrefix(inner, "@") || strings.HasPrefix(inner, "!")):
			mentions = append(mentions, seq)
		default:
			problems = append(problems, fmt.Sprintf("control sequence %q", seq))
		}
		rest = rest[open+end+1:]
	}
	return mentions, problems
}

// fuzzEntities lists each "&" of s that starts none of the three entities
// Slack knows.
func fuzzEntities(s string) []string {
	var problems []string
	for i := strings.IndexByte(s, '&'); i >= 0; {
		rest := s[i:]
		if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
			problems = append(problems, fmt.Sprintf("unescaped \"&\" in %q", fuzzAround(s, i)))
		}
		next := strings.IndexByte(rest[1:], '&')
		if next < 0 {
			break
		}
		i += next + 1
	}
	return problems
}

// fuzzAround is the text around s[i], for error messages.
func fuzzAround(s string, i int) string {
	lo, hi := max(0, i-20), min(len(s), i+20)
	return strings.ToValidUTF8(s[lo:hi], "")
}

func fuzzPrefix(name string, problems []string) []string {
	out := make([]string, 0, len(problems))
	for _, p := range problems {
		out = append(out, name+": "+p)
	}
	return out
}

// TestFuzzChecksCatch proves that FuzzRender's checks can fail: a sound
// message passes them, and each broken one is caught.
func TestFuzzChecksCatch(t *testing.T) {
	s := fuzzNotifiers(t)[0]
	n := fuzzNotification("HighErrorRate", "critical", "api-1", "summary", "description", "https://runbooks.example.com/x", 1, "firing")
	n.Mentions = fuzzEscalation
	for _, tc := range []struct {
		name  string
		mess  func(*message)
		wantN int
	}{
		{"sound", func(*message) {}, 0},
		{"long text", func(m *message) { m.Text += strings.Repeat("x", fuzzMaxText) }, 1},
		{"long title", func(m *message) { m.Attachments[0].Title = strings.Repeat("x", fuzzMaxTitle+1) }, 1},
		{"two attachments", func(m *message) { m.Attachments = append(m.Attachments, m.Attachments[0]) }, 1},
		{"mentions a stranger", func(m *message) { m.Text += " <@U0999>" }, 1},
		{"mentions nobody", func(m *message) { m.Text = "" }, 1},
		{"channel in the alert list", func(m *message) { m.Attachments[0].Text += " <!channel>" }, 1},
		{"mention in the title", func(m *message) { m.Attachments[0].Title += " <!subteam^S0999|@all>" }, 1},
		{"open sequence", func(m *message) { m.Attachments[0].Footer += " <!here" }, 1},
		{"stray >", func(m *message) { m.Attachments[0].Fallback += " a > b" }, 1},
		{"raw &", func(m *message) { m.Attachments[0].Text += " R&D" }, 1},
		{"entity cut", func(m *message) { m.Attachments[0].Text += " &am…" }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := s.build(n)
			if err != nil {
				t.Fatal(err)
			}
			tc.mess(msg)
			body, err := json.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := fuzzCheckMessage(n, body); len(got) != tc.wantN {
				t.Errorf("problems %q, want %d", got, tc.wantN)
			}
		})
	}
}

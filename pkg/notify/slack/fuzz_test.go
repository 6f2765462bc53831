package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
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
	notifytest.FuzzSeed(f)
	notifiers := fuzzNotifiers(f)
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if notifytest.FuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		for i, s := range notifiers {
			n := notifytest.FuzzNotification("ops-slack", alertname, severity, label, summary, description, runbook, count, status)
			n.Mentions = fuzzEscalation
			msg, err := s.build(n)
			if err != nil {
				t.Fatalf("notifier %d: rendering the message: %v", i, err)
			}
			if bad := notifytest.InvalidUTF8("message", reflect.ValueOf(msg)); len(bad) > 0 {
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
	n := notifytest.FuzzNotification("ops-slack", "HighErrorRate", "critical", "api-1", "summary", "description", "https://runbooks.example.com/x", 1, "firing")
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

package discord

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

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
)

// Discord's limits on an executed webhook message (resources/webhook,
// resources/message "Embed Limits"), counted after trimming whitespace.
const (
	fuzzMaxContent     = 2000
	fuzzMaxEmbeds      = 10
	fuzzMaxTitle       = 256
	fuzzMaxDescription = 4096
	fuzzMaxFields      = 25
	fuzzMaxFieldName   = 256
	fuzzMaxFieldValue  = 1024
	fuzzMaxFooter      = 2048
	fuzzMaxEmbedTotal  = 6000
)

// The IDs the fuzzed channel may ping: its own per-severity mentions and
// those escalation adds.
const (
	fuzzCritRole = "111111111111111111"
	fuzzCritUser = "222222222222222222"
	fuzzWarnUser = "555555555555555555"
	fuzzEscUser  = "333333333333333333"
	fuzzEscRole  = "444444444444444444"
)

// fuzzNotifiers are the channels FuzzRender renders with: the built-in
// texts, and user templates that put the alert's text in title and
// description.
func fuzzNotifiers(tb testing.TB) []*Notifier {
	tmpl, err := notify.NewTemplate(nil)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*Notifier
	for _, texts := range [][2]string{
		{"", ""},
		{`{{ .CommonLabels.alertname }} {{ .CommonAnnotations.summary }} {{ .CommonLabels.team }}`,
			"{{ .CommonAnnotations.description }} [runbook]({{ .CommonAnnotations.runbook_url }})\n{{ template \"__subject\" . }}"},
	} {
		c := &Config{WebhookURL: "https://discord.example/api/webhooks/1/fuzz", Username: DefaultUsername,
			Title: texts[0], Description: texts[1], MaxAlerts: fuzzMaxEmbeds, Timeout: DefaultTimeout,
			Mentions: map[string]Mentions{
				"critical": {Roles: []string{fuzzCritRole}, Users: []string{fuzzCritUser}},
				"warning":  {Users: []string{fuzzWarnUser}},
			}}
		n, err := New(c, notify.Options{Template: tmpl, Logger: promslog.NewNopLogger()})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// FuzzRender renders fuzzed alert groups into messages, as Notify does
// before sending, and checks each against Discord's rules: it must not
// panic or fail, the message must be valid UTF-8 and within every limit
// of Discord's webhooks, and it may ping only the IDs the config and
// escalation name, never anyone an alert's text names.
func FuzzRender(f *testing.F) {
	notifytest.FuzzSeed(f)
	notifiers := fuzzNotifiers(f)
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if notifytest.FuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		for i, nf := range notifiers {
			n := notifytest.FuzzNotification("ops-discord", alertname, severity, label, summary, description, runbook, count, status)
			n.Mentions = []string{"<@" + fuzzEscUser + ">", "<@&" + fuzzEscRole + ">", "@everyone", "<!channel>"}
			msg, err := nf.build(n)
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
			for _, problem := range fuzzCheckMessage(nf.conf, n, body) {
				t.Errorf("notifier %d: %s", i, problem)
			}
		}
	})
}

// fuzzCheckMessage lists what Discord would reject in body, n's message,
// and whom it would ping that it should not.
func fuzzCheckMessage(c *Config, n *notify.Notification, body []byte) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !utf8.Valid(body) {
		add("message is not valid UTF-8")
	}
	var m discordtest.Message
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return append(problems, fmt.Sprintf("message does not decode: %v", err))
	}
	if fuzzLen(m.Content) > fuzzMaxContent {
		add("content has %d characters, over %d", fuzzLen(m.Content), fuzzMaxContent)
	}
	if fuzzLen(m.Content) == 0 && len(m.Embeds) == 0 {
		add("message is empty")
	}
	if len(m.Embeds) > fuzzMaxEmbeds {
		add("%d embeds, over %d", len(m.Embeds), fuzzMaxEmbeds)
	}
	total := 0
	for i := range m.Embeds {
		total += fuzzCheckEmbed(add, i, &m.Embeds[i])
	}
	if total > fuzzMaxEmbedTotal {
		add("embeds have %d characters in all, over %d", total, fuzzMaxEmbedTotal)
	}
	return append(problems, fuzzCheckPings(c, n, m)...)
}

// fuzzCheckEmbed checks one embed and returns its size towards the total.
func fuzzCheckEmbed(add func(string, ...any), i int, e *discordtest.Embed) int {
	limit := func(name, s string, lo, hi int) {
		if n := fuzzLen(s); n < lo || n > hi {
			add("embeds[%d].%s has %d characters, want %d to %d", i, name, n, lo, hi)
		}
	}
	limit("title", e.Title, 0, fuzzMaxTitle)
	limit("description", e.Description, 0, fuzzMaxDescription)
	size := fuzzLen(e.Title) + fuzzLen(e.Description)
	if e.Footer != nil {
		limit("footer.text", e.Footer.Text, 1, fuzzMaxFooter)
		size += fuzzLen(e.Footer.Text)
	}
	if len(e.Fields) > fuzzMaxFields {
		add("embeds[%d] has %d fields, over %d", i, len(e.Fields), fuzzMaxFields)
	}
	for j, f := range e.Fields {
		limit(fmt.Sprintf("fields[%d].name", j), f.Name, 1, fuzzMaxFieldName)
		limit(fmt.Sprintf("fields[%d].value", j), f.Value, 1, fuzzMaxFieldValue)
		size += fuzzLen(f.Name) + fuzzLen(f.Value)
	}
	if _, err := time.Parse(time.RFC3339, e.Timestamp); e.Timestamp != "" && err != nil {
		add("embeds[%d].timestamp %q is not ISO 8601", i, e.Timestamp)
	}
	if e.Color != nil && (*e.Color < 0 || *e.Color > 0xFFFFFF) {
		add("embeds[%d].color %d is not an RGB value", i, *e.Color)
	}
	return size
}

// fuzzCheckPings checks allowed_mentions and who the message pings: the
// channel's mentions for the group's severity and escalation's, when the
// group fires, and nobody else.
func fuzzCheckPings(c *Config, n *notify.Notification, m discordtest.Message) []string {
	am := m.AllowedMentions
	if am == nil {
		return []string{"allowed_mentions is missing"}
	}
	var problems []string
	roles, users := []string{}, []string{}
	want := []string{}
	if n.Kind == notify.KindTrigger && len(n.Message.Firing()) > 0 {
		conf := c.Mentions[n.Message.Severity()]
		roles = append(slices.Clone(conf.Roles), fuzzEscRole)
		users = append(slices.Clone(conf.Users), fuzzEscUser)
		for _, id := range roles {
			want = append(want, "<@&"+id+">")
		}
		for _, id := range users {
			want = append(want, "<@"+id+">")
		}
	}
	if len(am.Parse) != 0 {
		problems = append(problems, fmt.Sprintf("allowed_mentions.parse is %q, want []", am.Parse))
	}
	for _, id := range append(slices.Clone(am.Roles), am.Users...) {
		if !slices.Contains(roles, id) && !slices.Contains(users, id) {
			problems = append(problems, fmt.Sprintf("allowed_mentions lists %s, which nobody configured", id))
		}
	}
	got := discordtest.Received{Body: m}.Pings()
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		problems = append(problems, fmt.Sprintf("pings (-want +got):\n%s", diff))
	}
	return problems
}

// fuzzLen is a text's length as Discord counts it: characters after
// trimming whitespace.
func fuzzLen(s string) int { return utf8.RuneCountInString(strings.TrimSpace(s)) }

// TestFuzzChecksCatch proves that FuzzRender's checks can fail: a sound
// message passes them, and each broken one is caught.
func TestFuzzChecksCatch(t *testing.T) {
	nf := fuzzNotifiers(t)[0]
	n := notifytest.FuzzNotification("ops-discord", "HighErrorRate", "critical", "api-1", "summary", "description", "https://runbooks.example.com/x", 1, "firing")
	n.Mentions = []string{"<@" + fuzzEscUser + ">", "<@&" + fuzzEscRole + ">"}
	for _, tc := range []struct {
		name  string
		mess  func(*message)
		wantN int
	}{
		{"sound", func(*message) {}, 0},
		{"long content", func(m *message) { m.Content += strings.Repeat("x", fuzzMaxContent) }, 1},
		{"too many embeds", func(m *message) {
			for range fuzzMaxEmbeds {
				m.Embeds = append(m.Embeds, m.Embeds[0])
			}
		}, 1},
		{"long title", func(m *message) { m.Embeds[0].Title = strings.Repeat("x", fuzzMaxTitle+1) }, 1},
		{"blank field name", func(m *message) { m.Embeds[0].Fields[0].Name = " " }, 1},
		{"long field value", func(m *message) { m.Embeds[0].Fields[0].Value = strings.Repeat("x", fuzzMaxFieldValue+1) }, 1},
		{"too large in all", func(m *message) {
			m.Embeds = append(m.Embeds, m.Embeds[0])
			m.Embeds[0].Description = strings.Repeat("x", fuzzMaxDescription)
			m.Embeds[1].Description = strings.Repeat("x", fuzzMaxDescription)
		}, 1},
		{"parse everyone", func(m *message) { m.AllowedMentions.Parse = []string{"everyone"} }, 1},
		{"pings a stranger", func(m *message) {
			m.AllowedMentions.Users = append(m.AllowedMentions.Users, "999")
			m.Content += " <@999>"
		}, 2},
		{"pings nobody", func(m *message) { m.Content = "firing" }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := nf.build(n)
			if err != nil {
				t.Fatal(err)
			}
			tc.mess(msg)
			body, err := json.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := fuzzCheckMessage(nf.conf, n, body); len(got) != tc.wantN {
				t.Errorf("problems %q, want %d", got, tc.wantN)
			}
		})
	}
	if got := fuzzCheckMessage(nf.conf, n, []byte(`{"content":"x"}`)); !slices.Contains(got, "allowed_mentions is missing") {
		t.Errorf("no allowed_mentions: problems %q", got)
	}
}

package discord

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
)

// fuzzDigest is the digest FuzzDigest renders: count%20+2 notifications
// of every kind, over a few incidents, built from the fuzzed texts.
func fuzzDigest(alertname, severity, label, summary, description, runbook string, count uint8, status string) []*notify.Notification {
	kinds := []notify.Kind{notify.KindTrigger, notify.KindResolve, notify.KindEscalate, notify.KindAcknowledged}
	var ns []*notify.Notification
	for i := range int(count)%20 + 2 {
		n := notifytest.FuzzNotification("ops-discord", alertname, severity, label, summary, description, runbook, count+uint8(i), status)
		n.ID, n.Kind, n.Level = int64(i+1), kinds[i%len(kinds)], i
		n.IncidentKey = fmt.Sprintf("incident-%d", i%5)
		n.Mentions = []string{"<@" + fuzzEscUser + ">", "<@&" + fuzzEscRole + ">", "@everyone", "<!channel>"}
		// As decoded from JSON, like the alerts' texts.
		n.AckURL, n.AckedBy = strings.ToValidUTF8(runbook, "\uFFFD"), strings.ToValidUTF8(label, "\uFFFD")
		if i%3 == 0 {
			n.AckURL = "https://klaxon.example.com/ack/" + strings.Repeat("A", 170)
		}
		ns = append(ns, n)
	}
	return ns
}

// FuzzDigest renders digests of fuzzed notifications and checks each
// against Discord's rules, as FuzzRender does a single message: within
// every limit, a line for every notification it covers, and pinging
// exactly whom those notifications would have pinged.
func FuzzDigest(f *testing.F) {
	notifytest.FuzzSeed(f)
	nf := fuzzNotifiers(f)[0]
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if notifytest.FuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		ns := fuzzDigest(alertname, severity, label, summary, description, runbook, count, status)
		msg, covered := nf.buildDigest(ns)
		if covered < 1 || covered > MaxDigest || covered > len(ns) {
			t.Fatalf("covers %d of %d notifications", covered, len(ns))
		}
		if covered == 1 {
			return // sent as the first notification's own message, which FuzzRender checks
		}
		if bad := notifytest.InvalidUTF8("message", reflect.ValueOf(msg)); len(bad) > 0 {
			t.Errorf("invalid UTF-8 in %s", strings.Join(bad, ", "))
		}
		body, err := json.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		for _, problem := range fuzzCheckDigest(nf.conf, ns[:covered], body) {
			t.Error(problem)
		}
	})
}

// fuzzCheckDigest lists what Discord would reject in body, the digest of
// ns, what is missing from it, and whom it pings that it should not.
func fuzzCheckDigest(c *Config, ns []*notify.Notification, body []byte) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var m discordtest.Message
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return []string{fmt.Sprintf("message does not decode: %v", err)}
	}
	if fuzzLen(m.Content) > fuzzMaxContent {
		add("content has %d characters, over %d", fuzzLen(m.Content), fuzzMaxContent)
	}
	if len(m.Embeds) == 0 || len(m.Embeds) > fuzzMaxEmbeds {
		add("%d embeds, want 1 to %d", len(m.Embeds), fuzzMaxEmbeds)
	}
	total := 0
	var lines []string
	for i := range m.Embeds {
		total += fuzzCheckEmbed(add, i, &m.Embeds[i])
		lines = append(lines, strings.Split(m.Embeds[i].Description, "\n")...)
	}
	if total > fuzzMaxEmbedTotal {
		add("embeds have %d characters in all, over %d", total, fuzzMaxEmbedTotal)
	}
	if len(lines) != len(ns) {
		add("%d lines for %d notifications", len(lines), len(ns))
	}
	for i, line := range lines {
		if !strings.HasPrefix(line, "**[") {
			add("line %d does not start with a status: %.80q", i, line)
		}
	}
	return append(problems, fuzzCheckDigestPings(c, ns, m)...)
}

// fuzzCheckDigestPings checks that the digest pings everyone its
// notifications would have, each once, and nobody else.
func fuzzCheckDigestPings(c *Config, ns []*notify.Notification, m discordtest.Message) []string {
	am := m.AllowedMentions
	if am == nil {
		return []string{"allowed_mentions is missing"}
	}
	var problems []string
	if len(am.Parse) != 0 {
		problems = append(problems, fmt.Sprintf("allowed_mentions.parse is %q, want []", am.Parse))
	}
	want := []string{}
	addWant := func(ping string) {
		if !slices.Contains(want, ping) {
			want = append(want, ping)
		}
	}
	for _, n := range ns {
		if len(n.Message.Firing()) == 0 || (n.Kind != notify.KindTrigger && n.Kind != notify.KindEscalate) {
			continue
		}
		if n.Kind == notify.KindTrigger {
			conf := c.Mentions[n.Message.Severity()]
			for _, id := range conf.Roles {
				addWant("<@&" + id + ">")
			}
			for _, id := range conf.Users {
				addWant("<@" + id + ">")
			}
		}
		addWant("<@&" + fuzzEscRole + ">")
		addWant("<@" + fuzzEscUser + ">")
	}
	var allowed []string
	for _, id := range am.Roles {
		allowed = append(allowed, "<@&"+id+">")
	}
	for _, id := range am.Users {
		allowed = append(allowed, "<@"+id+">")
	}
	got := discordtest.Received{Body: m}.Pings()
	for _, list := range [][]string{want, allowed, got} {
		slices.Sort(list)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		problems = append(problems, fmt.Sprintf("pings (-want +got):\n%s", diff))
	}
	if diff := cmp.Diff(want, allowed, cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) || len(a)+len(b) == 0 })); diff != "" {
		problems = append(problems, fmt.Sprintf("allowed_mentions (-want +got):\n%s", diff))
	}
	for _, mass := range []string{"@everyone", "@here"} {
		if strings.Contains(m.Content, mass) {
			problems = append(problems, "content holds "+mass)
		}
	}
	return problems
}

// TestFuzzDigestChecksCatch proves that FuzzDigest's own checks can fail.
func TestFuzzDigestChecksCatch(t *testing.T) {
	nf := fuzzNotifiers(t)[0]
	ns := fuzzDigest("HighErrorRate", "critical", "api-1", "summary", "description", "https://runbooks.example.com/x", 3, "firing")
	for _, tc := range []struct {
		name  string
		mess  func(*message)
		wantN int
	}{
		{"sound", func(*message) {}, 0},
		{"a line lost", func(m *message) {
			e := &m.Embeds[len(m.Embeds)-1]
			e.Description = e.Description[:strings.LastIndexByte(e.Description, '\n')]
		}, 1},
		{"a ping lost", func(m *message) {
			m.Content = strings.Replace(m.Content, "<@"+fuzzEscUser+">", "", 1)
		}, 1},
		{"everyone", func(m *message) { m.Content += " @everyone" }, 1},
		{"too large in all", func(m *message) {
			m.Embeds = append(m.Embeds, embed{Description: strings.Repeat("**[x", fuzzMaxDescription/4)}, embed{Description: strings.Repeat("**[x", fuzzMaxDescription/4)})
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, covered := nf.buildDigest(ns)
			if covered != len(ns) {
				t.Fatalf("covered %d of %d", covered, len(ns))
			}
			tc.mess(msg)
			body, err := json.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := fuzzCheckDigest(nf.conf, ns, body); len(got) != tc.wantN {
				t.Errorf("problems %q, want %d", got, tc.wantN)
			}
		})
	}
}

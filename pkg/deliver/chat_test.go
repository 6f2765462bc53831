package deliver_test

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/deliver"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/discord"
	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/slack"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
	"github.com/klaxonhq/klaxon/pkg/store"
)

// chatMessage is a message a fake chat upstream accepted.
type chatMessage struct {
	At    time.Time
	Text  string   // every text of the message
	Pings []string // who it notifies, as the fake reads it
}

// chatUpstream is a real chat notifier with the fake of its upstream.
type chatUpstream struct {
	notifier notify.Digester
	messages func() []chatMessage
	attempts func() int
	failNext func(n int, f fakeapi.Fault)
	// escalation is the mention Prepare adds to incident i's trigger,
	// and ping what the fake reports for it; configured the fake's
	// reports of the channel's own mentions by severity.
	escalation, ping func(i int) string
	configured       map[string]string
}

func slackUpstream(t *testing.T) chatUpstream {
	fake := slacktest.NewServer()
	t.Cleanup(fake.Close)
	n, err := slack.New(&slack.Config{
		WebhookURL: commoncfg.Secret(fake.NewWebhook()), Username: slack.DefaultUsername, MaxAlerts: slack.DefaultMaxAlerts,
		Mentions: map[string][]slack.Mention{"critical": {"S0CRIT01"}, "warning": {"U0WARN01"}}, Timeout: slack.DefaultTimeout,
	}, notify.Options{Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return chatUpstream{
		notifier: n,
		messages: func() []chatMessage {
			var out []chatMessage
			for _, r := range fake.Received() {
				text := r.Message.Text
				for _, a := range r.Message.Attachments {
					text += "\n" + a.Title + "\n" + a.Text
				}
				out = append(out, chatMessage{At: r.At, Text: text, Pings: r.Mentions})
			}
			return out
		},
		attempts:   fake.Attempts,
		failNext:   fake.FailNext,
		escalation: func(i int) string { return fmt.Sprintf("U0INC%02d", i) },
		ping:       func(i int) string { return fmt.Sprintf("<@U0INC%02d>", i) },
		configured: map[string]string{"critical": "<!subteam^S0CRIT01>", "warning": "<@U0WARN01>"},
	}
}

func discordUpstream(t *testing.T) chatUpstream {
	fake := discordtest.NewServer()
	t.Cleanup(fake.Close)
	n, err := discord.New(&discord.Config{
		WebhookURL: commoncfg.Secret(fake.AddWebhook("1200000000000000001", "token")), Username: discord.DefaultUsername,
		MaxAlerts: 10, Timeout: discord.DefaultTimeout,
		Mentions: map[string]discord.Mentions{"critical": {Roles: []string{"1300000000000000001"}}, "warning": {Users: []string{"1300000000000000002"}}},
	}, notify.Options{Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return chatUpstream{
		notifier: n,
		messages: func() []chatMessage {
			var out []chatMessage
			for _, r := range fake.Received() {
				text := r.Body.Content
				for _, e := range r.Body.Embeds {
					text += "\n" + e.Title + "\n" + e.Description
				}
				out = append(out, chatMessage{At: r.At, Text: text, Pings: r.Pings()})
			}
			return out
		},
		attempts:   fake.Attempts,
		failNext:   fake.FailNext,
		escalation: func(i int) string { return fmt.Sprintf("<@14000000000000000%02d>", i) },
		ping:       func(i int) string { return fmt.Sprintf("<@14000000000000000%02d>", i) },
		configured: map[string]string{"critical": "<@&1300000000000000001>", "warning": "<@1300000000000000002>"},
	}
}

// stormIncidents is the number of incidents TestDigestsHoldTheRateLimit
// triggers at once, and stormResolved how many of them it then resolves.
const (
	stormIncidents = 50
	stormResolved  = 5
)

// TestDigestsHoldTheRateLimit: with 55 deliveries waiting for a chat
// channel limited to one message a second, the real Slack and Discord
// notifiers send a few digests, within the limit by the fake's clock,
// that show every notification once, in order per incident, each
// trigger with its mentions; every delivery ends done.
func TestDigestsHoldTheRateLimit(t *testing.T) {
	for name, upstream := range map[string]func(*testing.T) chatUpstream{"slack": slackUpstream, "discord": discordUpstream} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testDigestsHoldTheRateLimit(t, upstream(t))
		})
	}
}

func testDigestsHoldTheRateLimit(t *testing.T, up chatUpstream) {
	path := t.TempDir() + "/klaxon.db"
	now := time.Now()
	var ins []*store.Ingest
	for i := range stormIncidents {
		ins = append(ins, stormIngest(t, now, i, notify.KindTrigger))
	}
	for i := range stormResolved {
		ins = append(ins, stormIngest(t, now, i, notify.KindResolve))
	}
	ingestBefore(t, path, ins...)

	every := time.Second
	channels := map[string]deliver.Channel{"chat": {Notifier: up.notifier, Limit: notify.Limit{Every: every, Burst: 1}}}
	h := startOn(t, path, new(testkit.Clock), channels, func(o *deliver.Options) {
		o.Now, o.PollInterval = time.Now, 100*time.Millisecond
		o.Preparer = prepareFunc(func(n *notify.Notification) {
			if n.Kind == notify.KindTrigger {
				var i int
				fmt.Sscanf(n.IncidentKey, "inc%d", &i)
				n.Mentions = []string{up.escalation(i)}
			}
		})
	})
	testenv.Eventually(t, time.Minute, func() error {
		stats, err := h.store.Stats(context.Background())
		if err != nil {
			return err
		}
		for _, st := range stats {
			if st.Pending > 0 || st.Dead > 0 {
				return fmt.Errorf("outbox: %+v", st)
			}
		}
		return nil
	})

	msgs := up.messages()
	if up.attempts() != len(msgs) {
		t.Errorf("the fake refused %d of %d requests", up.attempts()-len(msgs), up.attempts())
	}
	elapsed := msgs[len(msgs)-1].At.Sub(msgs[0].At)
	if bound := int(math.Round(elapsed.Seconds()/every.Seconds())) + 1; len(msgs) > bound {
		t.Errorf("%d messages in %s, over the limit of one per %s", len(msgs), elapsed, every)
	}
	total := stormIncidents + stormResolved
	if few := total/up.notifier.MaxDigest() + 3; len(msgs) > few {
		t.Errorf("%d messages for %d deliveries, want at most %d", len(msgs), total, few)
	}
	t.Logf("%d messages in %s", len(msgs), elapsed)
	checkStormMessages(t, up, msgs)
}

// lineRE finds a notification in a message: a digest line or the title
// of a message of its own.
var lineRE = regexp.MustCompile(`\[(FIRING|RESOLVED)[^\]]*\]\**\s+inc(\d\d)`)

// checkStormMessages checks that every notification appears once, a
// resolve after its trigger, and that each message pings exactly the
// mentions of the triggers it shows.
func checkStormMessages(t *testing.T, up chatUpstream, msgs []chatMessage) {
	t.Helper()
	seen := map[string]int{} // "FIRING 07" → position over all messages
	pos := 0
	for m, msg := range msgs {
		var want []string
		for _, match := range lineRE.FindAllStringSubmatch(msg.Text, -1) {
			key := match[1] + " " + match[2]
			if _, dup := seen[key]; dup {
				t.Errorf("message %d shows %s again", m, key)
			}
			seen[key], pos = pos, pos+1
			if match[1] == "FIRING" {
				var i int
				fmt.Sscanf(match[2], "%d", &i)
				want = append(want, up.configured[stormSeverity(i)], up.ping(i))
			}
		}
		slices.Sort(want)
		got := slices.Clone(msg.Pings)
		slices.Sort(got)
		if !slices.Equal(slices.Compact(want), slices.Compact(got)) {
			t.Errorf("message %d pings %q, want %q", m, got, slices.Compact(want))
		}
	}
	for i := range stormIncidents {
		fire, ok := seen[fmt.Sprintf("FIRING %02d", i)]
		if !ok {
			t.Errorf("incident %d's trigger is in no message", i)
		}
		if i >= stormResolved {
			continue
		}
		if res, ok := seen[fmt.Sprintf("RESOLVED %02d", i)]; !ok || res < fire {
			t.Errorf("incident %d's resolve at %d (shown: %v), its trigger at %d", i, res, ok, fire)
		}
	}
}

func stormSeverity(i int) string {
	if i%2 == 0 {
		return "critical"
	}
	return "warning"
}

// stormIngest is incident i's trigger or resolve: one alert named incNN.
func stormIngest(t *testing.T, at time.Time, i int, kind notify.Kind) *store.Ingest {
	t.Helper()
	key := fmt.Sprintf("inc%02d", i)
	status := alert.StatusFiring
	if kind == notify.KindResolve {
		status = alert.StatusResolved
	}
	labels := map[string]string{"alertname": key, "severity": stormSeverity(i), "job": "api"}
	annotations := map[string]string{"summary": "api answers 5% of its requests with an error", "runbook_url": "https://runbooks.example.com/" + key}
	m := &alert.Message{
		Version: "4", GroupKey: `{}:{alertname="` + key + `"}`, Status: status, Receiver: "ops",
		GroupLabels: map[string]string{"alertname": key}, CommonLabels: labels, CommonAnnotations: annotations,
		Alerts: []alert.Alert{{Status: status, Labels: labels, Annotations: annotations, StartsAt: at, Fingerprint: key}},
	}
	payload, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &store.Ingest{
		Route: "ops", IncidentKey: key, GroupKey: m.GroupKey, StateHash: m.StateHash(), Status: status,
		Kind: string(kind), Payload: payload, Channels: []string{"chat"}, ReceivedAt: at,
	}
}

// prepareFunc is a function used as a deliver.Preparer.
type prepareFunc func(*notify.Notification)

func (f prepareFunc) Prepare(n *notify.Notification) { f(n) }

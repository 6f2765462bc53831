package escalation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
)

// rota is a fake schedule: one user until the handoff, another after.
type rota struct {
	handoff       time.Time
	before, after string
}

type fakeResolver map[string]rota

func (r fakeResolver) OnCall(schedule string, at time.Time) (string, bool) {
	ro, ok := r[schedule]
	switch {
	case !ok:
		return "", false
	case at.Before(ro.handoff):
		return ro.before, ro.before != ""
	}
	return ro.after, ro.after != ""
}

// fakeUsers holds each user's Slack and Discord IDs.
type fakeUsers map[string][2]string

func (u fakeUsers) ChatIDs(user string) (map[string]string, bool) {
	ids, ok := u[user]
	out := map[string]string{}
	for i, name := range []string{"slack", "discord"} {
		if ids[i] != "" {
			out[name] = ids[i]
		}
	}
	return out, ok
}

// chatOf mentions as the registered integration of that name does.
type chatOf string

func (c chatOf) Mentions(users, groups []string) []string {
	in, _ := integrations.Get(string(c))
	return in.Chat.Mentions(users, groups)
}

var directory = fakeUsers{
	"alice":          {"U01ALICE", "100000000000000001"},
	"bob":            {"U02BOB", "100000000000000002"},
	"senior":         {"U03SENIOR", ""},
	"manager":        {"U04MANAGER", "100000000000000004"},
	"cto":            {"", "100000000000000005"},
	"vp-engineering": {"U06VP", "100000000000000006"},
}

// TestSimulateExample is the timeline documented in
// docs/oncall.md.
func TestSimulateExample(t *testing.T) {
	p := loadExample(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// Alice is on call for primary until 09:00 UTC, then Bob.
	handoff := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	resolver := fakeResolver{"primary": {handoff: handoff, before: "alice", after: "bob"}}
	for _, sc := range []struct {
		name   string
		start  time.Time
		events []TimedEvent
		length time.Duration
	}{
		{name: "nobody acknowledges", start: t0, length: 3 * time.Hour},
		{name: "acknowledged; a new alert joins; resolved", start: t0, length: 6 * time.Hour, events: []TimedEvent{
			{At: t0, Event: Alerts{Fingerprints: []string{"4f1c2a"}, Reason: "first notification"}},
			{At: t0.Add(12 * time.Minute), Event: Ack{By: "alice"}},
			{At: t0.Add(40 * time.Minute), Event: Alerts{Fingerprints: []string{"4f1c2a", "9be07d"}, Reason: "new alerts added"}},
			{At: t0.Add(75 * time.Minute), Event: Ack{By: "bob"}},
			{At: t0.Add(4 * time.Hour), Event: Alerts{Fingerprints: []string{"4f1c2a", "9be07d"}, Reason: ReasonRepeat}},
			{At: t0.Add(5 * time.Hour), Event: Resolve{}},
		}},
		{
			name:  "across the spring-forward change in Europe/Berlin",
			start: time.Date(2026, 3, 29, 1, 15, 0, 0, berlin), length: 3 * time.Hour,
		},
	} {
		t.Run(sc.name, func(t *testing.T) {
			pages := Simulate(p, resolver, directory, sc.start, sc.events, sc.start.Add(sc.length))
			name := strings.NewReplacer(" ", "-", ";", "", "/", "-").Replace(sc.name)
			testkit.Golden(t, filepath.Join("testdata", "timeline-"+name+".golden"), Timeline(sc.start, pages))
		})
	}
}

// TestSchedulesResolveAtDue checks that a schedule target pages whoever is
// on call when the page falls due, even when it is sent late.
func TestSchedulesResolveAtDue(t *testing.T) {
	p := &Policy{Name: "rota", Levels: []Level{
		{Delay: 0, Targets: []Target{{Schedule: "primary"}}},
		{Delay: 30 * time.Minute, Targets: []Target{{Schedule: "primary"}, {User: "bob"}, {Schedule: "empty"}}},
	}}
	resolver := fakeResolver{
		"primary": {handoff: t0.Add(20 * time.Minute), before: "alice", after: "bob"},
		"empty":   {},
	}
	s, first := Start(p, t0, nil)
	// The process was down from +0:10 to +0:45: level 2 is sent late.
	_, late := s.On(Tick{}, p, t0.Add(45*time.Minute))
	pages := append(first, late...)
	for i := range pages {
		pages[i].AddRecipients(resolver, directory)
	}
	want := []Page{
		{Level: 1, Loop: 1, Kind: PageEscalate, Due: t0, Targets: p.Levels[0].Targets,
			Users:    []string{"alice"},
			Mentions: map[string]Mentions{"slack": {Users: []string{"U01ALICE"}}, "discord": {Users: []string{"100000000000000001"}}}},
		{Level: 2, Loop: 1, Kind: PageEscalate, Due: t0.Add(30 * time.Minute), Targets: p.Levels[1].Targets,
			Users:     []string{"bob"},
			Mentions:  map[string]Mentions{"slack": {Users: []string{"U02BOB"}}, "discord": {Users: []string{"100000000000000002"}}},
			Uncovered: []string{"empty"}},
	}
	if diff := cmp.Diff(want, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
}

func TestAddRecipients(t *testing.T) {
	page := Page{Kind: PageEscalate, Due: t0, Targets: []Target{
		{User: "senior"}, {User: "cto"}, {User: "stranger"}, {Schedule: "primary"},
		{Group: Group{"slack", "S0123ABCD"}}, {Group: Group{"discord", "123456789012345678"}}, {Group: Group{"slack", "S0123ABCD"}},
	}}
	page.AddRecipients(nil, directory)
	want := map[string]Mentions{
		"slack":   {Users: []string{"U03SENIOR"}, Groups: []string{"S0123ABCD"}},
		"discord": {Users: []string{"100000000000000005"}, Groups: []string{"123456789012345678"}},
	}
	if diff := cmp.Diff(want, page.Mentions); diff != "" {
		t.Errorf("mentions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"senior", "cto", "stranger"}, page.Users); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"primary"}, page.Uncovered); diff != "" {
		t.Errorf("uncovered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"U03SENIOR", "S0123ABCD"}, page.MentionsOn("slack", chatOf("slack"))); diff != "" {
		t.Errorf("Slack mentions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"<@&123456789012345678>", "<@100000000000000005>"}, page.MentionsOn("discord", chatOf("discord"))); diff != "" {
		t.Errorf("Discord mentions (-want +got):\n%s", diff)
	}
}

// TestStateJSON pins the stored form of State: a change to it must be a
// deliberate one that old rows survive.
func TestStateJSON(t *testing.T) {
	p := policy(1, 30*time.Minute, 0, 30*time.Minute)
	s, _ := Start(p, t0, []string{"b", "a"})
	s, _ = s.On(Ack{By: "alice"}, p, t0.Add(10*time.Minute))
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, filepath.Join("testdata", "state.golden.json"), string(b)+"\n")
}

// TestDocumentedTimeline keeps the example in the docs equal to the
// simulated one.
func TestDocumentedTimeline(t *testing.T) {
	doc, err := os.ReadFile("../../docs/oncall.md")
	if err != nil {
		t.Fatal(err)
	}
	timeline, err := os.ReadFile("testdata/timeline-acknowledged-a-new-alert-joins-resolved.golden")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```\n"+string(timeline)+"```\n") {
		t.Errorf("docs/oncall.md does not show the timeline of testdata/timeline-acknowledged-a-new-alert-joins-resolved.golden:\n%s", timeline)
	}
}

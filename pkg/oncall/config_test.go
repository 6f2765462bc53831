package oncall

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// testConfig embeds the on-call keys the way the receiver's config does:
// it compiles them in its own UnmarshalYAML so that cross-references are
// reported with lines.
type testConfig struct {
	Users     []UserConfig     `yaml:"users"`
	Schedules []ScheduleConfig `yaml:"schedules"`

	dir       *Directory
	schedules map[string]*Schedule
}

func (c *testConfig) UnmarshalYAML(node *yaml.Node) error {
	type plain testConfig
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	var err error
	c.dir, c.schedules, err = Compile(c.Users, c.Schedules)
	return err
}

// load decodes and compiles a config, named oncall.yml in errors.
func load(t *testing.T, data string) *testConfig {
	t.Helper()
	c := &testConfig{}
	if err := yamlconf.Decode("oncall.yml", []byte(data), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// schedule compiles data and returns its schedule named name.
func schedule(t *testing.T, data, name string) *Schedule {
	t.Helper()
	s, ok := load(t, data).schedules[name]
	if !ok {
		t.Fatalf("no schedule %q", name)
	}
	return s
}

func TestLoadGoodFile(t *testing.T) {
	c := &testConfig{}
	if err := yamlconf.LoadFile("testdata/oncall.yml", c); err != nil {
		t.Fatal(err)
	}
	type user struct{ Name, SlackID, DiscordID, Zone string }
	var got []user
	for _, u := range c.dir.Users() {
		got = append(got, user{u.Name, u.ChatIDs["slack"], u.ChatIDs["discord"], u.Location.String()})
	}
	want := []user{
		{"alice", "U012AB3CD", "123456789012345678", "Europe/Berlin"},
		{"bob", "W0123ABCD", "", "UTC"},
		{"carol", "", "", "America/New_York"},
		{"dave", "", "", "UTC"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	s := c.schedules["primary"]
	if s == nil || s.Name() != "primary" || s.Location().String() != "Europe/London" {
		t.Fatalf("schedule primary: %+v", s)
	}
	if got := s.layers[0].name + "," + s.layers[1].name; got != "weekdays,layer-2" {
		t.Errorf("layer names %q, want the given one and the default", got)
	}
	if l := s.layers[1]; l.handoff != 0 || l.start != (date{2024, time.January, 1}) {
		t.Errorf("layer defaults: handoff %d start %v, want 0 and 2024-01-01", l.handoff, l.start)
	}
	if u, ok := c.dir.User("dave"); !ok || u.Name != "dave" {
		t.Errorf("User(dave) = %v, %v", u, ok)
	}
	if _, ok := c.dir.User("mallory"); ok {
		t.Error("User(mallory) found a user that is not defined")
	}
}

func TestConfigErrors(t *testing.T) {
	const users = "users:\n  - name: alice\n  - name: bob\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"user without name", "users:\n  - slack_id: U1\n",
			"oncall.yml:2: user name is required"},
		{"bad user name", "users:\n  - name: al ice\n",
			`oncall.yml:2: user name "al ice" must be letters, digits, '_', '.' or '-'`},
		{"duplicate user", users + "  - name: alice\n",
			`oncall.yml:4: user name "alice" is used twice`},
		{"bad slack id", "users:\n  - name: alice\n    slack_id: alice\n",
			`oncall.yml:2: user "alice": slack_id "alice" must be a Slack member ID (U or W, then capital letters and digits)`},
		{"bad discord id", "users:\n  - name: alice\n    discord_id: \"@alice\"\n",
			`oncall.yml:2: user "alice": discord_id "@alice" must be a Discord user ID (17 to 20 digits)`},
		{"short discord id", "users:\n  - name: alice\n    discord_id: 1234\n",
			`oncall.yml:2: user "alice": discord_id "1234" must be a Discord user ID (17 to 20 digits)`},
		{"unknown user zone", "users:\n  - name: alice\n    time_zone: Mars/Olympus\n",
			`oncall.yml:2: user "alice": unknown time_zone "Mars/Olympus" (want an IANA zone such as Europe/London)`},
		{"local zone", "users:\n  - name: alice\n    time_zone: Local\n",
			`oncall.yml:2: user "alice": time_zone "Local" depends on the machine; name an IANA zone such as Europe/London`},
		{"unknown user key", "users:\n  - name: alice\n    slack: U1\n",
			`oncall.yml:3: unknown key "slack" (known keys: discord_id, name, slack_id, time_zone)`},
		{"schedule without name", users + "schedules:\n  - layers: [{rotation: daily, participants: [alice]}]\n",
			"oncall.yml:5: schedule name is required"},
		{"bad schedule name", users + "schedules:\n  - name: primary/eu\n    layers: [{rotation: daily, participants: [alice]}]\n",
			`oncall.yml:5: schedule name "primary/eu" must be letters, digits, '_', '.' or '-'`},
		{"unknown schedule zone", users + "schedules:\n  - name: s\n    time_zone: Europe/Londn\n    layers: [{rotation: daily, participants: [alice]}]\n",
			`oncall.yml:5: schedule "s": unknown time_zone "Europe/Londn" (want an IANA zone such as Europe/London)`},
		{"empty schedule", users + "schedules:\n  - name: s\n",
			`oncall.yml:5: schedule "s" needs at least one layer or override`},
		{"duplicate schedule", users + "schedules:\n  - name: s\n    layers: [{rotation: daily, participants: [alice]}]\n  - name: s\n    layers: [{rotation: daily, participants: [bob]}]\n",
			`oncall.yml:7: schedule name "s" is used twice`},
		{"duplicate layer", users + "schedules:\n  - name: s\n    layers:\n      - {name: a, rotation: daily, participants: [alice]}\n      - {name: a, rotation: daily, participants: [bob]}\n",
			`oncall.yml:8: schedule "s": layer name "a" is used twice`},
		{"duplicate default layer name", users + "schedules:\n  - name: s\n    layers:\n      - {rotation: daily, participants: [alice]}\n      - {name: layer-1, rotation: daily, participants: [bob]}\n",
			`oncall.yml:8: schedule "s": layer name "layer-1" is used twice`},
		{"bad layer name", users + "schedules:\n  - name: s\n    layers:\n      - {name: on call, rotation: daily, participants: [alice]}\n",
			`oncall.yml:7: layer name "on call" must be letters, digits, '_', '.' or '-'`},
		{"no rotation", users + "schedules:\n  - name: s\n    layers:\n      - name: a\n        participants: [alice]\n",
			`oncall.yml:7: layer "a": rotation is required: daily, weekly, monthly or hourly`},
		{"bad rotation", users + "schedules:\n  - name: s\n    layers:\n      - name: a\n        rotation: fortnightly\n        participants: [alice]\n",
			`oncall.yml:7: layer "a": rotation "fortnightly" must be daily, weekly, monthly or hourly`},
		{"hourly without shift_hours", users + "schedules:\n  - name: s\n    layers:\n      - rotation: hourly\n        participants: [alice]\n",
			"oncall.yml:7: layer: rotation hourly needs shift_hours of 1 or more"},
		{"hourly with zero shift_hours", users + "schedules:\n  - name: s\n    layers:\n      - rotation: hourly\n        shift_hours: 0\n        participants: [alice]\n",
			"oncall.yml:7: layer: rotation hourly needs shift_hours of 1 or more"},
		{"shift_hours on daily", users + "schedules:\n  - name: s\n    layers:\n      - rotation: daily\n        shift_hours: 12\n        participants: [alice]\n",
			"oncall.yml:7: layer: shift_hours is only for rotation hourly, not daily"},
		{"bad handoff", users + "schedules:\n  - name: s\n    layers:\n      - rotation: daily\n        handoff: \"9am\"\n        participants: [alice]\n",
			`oncall.yml:7: layer: handoff "9am" must be a time of day as HH:MM, 00:00 to 23:59`},
		{"handoff 24:00", users + "schedules:\n  - name: s\n    layers:\n      - rotation: daily\n        handoff: \"24:00\"\n        participants: [alice]\n",
			`oncall.yml:7: layer: handoff "24:00" must be a time of day as HH:MM, 00:00 to 23:59`},
		{"bad start", users + "schedules:\n  - name: s\n    layers:\n      - rotation: daily\n        start: 2026-02-30\n        participants: [alice]\n",
			`oncall.yml:7: layer: start "2026-02-30" must be a date as YYYY-MM-DD`},
		{"no participants", users + "schedules:\n  - name: s\n    layers:\n      - name: a\n        rotation: daily\n",
			`oncall.yml:7: layer "a" has no participants`},
		{"unknown participant", users + "schedules:\n  - name: s\n    layers:\n      - name: a\n        rotation: daily\n        participants:\n          - alice\n          - mallory\n",
			`oncall.yml:11: layer "a" of schedule "s" names user "mallory", which is not defined (users: alice, bob)`},
		{"bad day", users + "schedules:\n  - name: s\n    layers:\n      - name: a\n        rotation: daily\n        participants: [alice]\n        restrictions:\n          - days: [monday]\n",
			`oncall.yml:7: layer "a": restriction day "monday" must be one of mon, tue, wed, thu, fri, sat, sun`},
		{"bad restriction from", users + "schedules:\n  - name: s\n    layers:\n      - name: a\n        rotation: daily\n        participants: [alice]\n        restrictions:\n          - {from: \"9:00\", to: \"17:00\"}\n",
			`oncall.yml:7: layer "a": restriction from "9:00" must be a time of day as HH:MM, 00:00 to 23:59`},
		{"bad restriction to", users + "schedules:\n  - name: s\n    layers:\n      - name: a\n        rotation: daily\n        participants: [alice]\n        restrictions:\n          - {from: \"09:00\", to: \"17:60\"}\n",
			`oncall.yml:7: layer "a": restriction to "17:60" must be a time of day as HH:MM, 00:00 to 23:59`},
		{"unknown restriction key", users + "schedules:\n  - name: s\n    layers:\n      - name: a\n        rotation: daily\n        participants: [alice]\n        restrictions:\n          - {from: \"09:00\", until: \"17:00\"}\n",
			`oncall.yml:11: unknown key "until" (known keys: days, from, to)`},
		{"override without user", users + "schedules:\n  - name: s\n    overrides:\n      - {from: 2026-11-20T18:00:00Z, until: 2026-11-21T09:00:00Z}\n",
			"oncall.yml:7: override needs a user"},
		{"override unknown user", users + "schedules:\n  - name: s\n    overrides:\n      - {user: mallory, from: 2026-11-20T18:00:00Z, until: 2026-11-21T09:00:00Z}\n",
			`oncall.yml:7: override in schedule "s" names user "mallory", which is not defined (users: alice, bob)`},
		{"override without from", users + "schedules:\n  - name: s\n    overrides:\n      - {user: alice, until: 2026-11-21T09:00:00Z}\n",
			`oncall.yml:7: override for "alice": from is required (an RFC 3339 time such as 2026-11-20T18:00:00Z)`},
		{"override bad from", users + "schedules:\n  - name: s\n    overrides:\n      - {user: alice, from: \"2026-11-20 18:00\", until: 2026-11-21T09:00:00Z}\n",
			`oncall.yml:7: override for "alice": from "2026-11-20 18:00" must be an RFC 3339 time such as 2026-11-20T18:00:00Z`},
		{"override bad until", users + "schedules:\n  - name: s\n    overrides:\n      - {user: alice, from: 2026-11-20T18:00:00Z, until: 2026-11-21}\n",
			`oncall.yml:7: override for "alice": until "2026-11-21" must be an RFC 3339 time such as 2026-11-20T18:00:00Z`},
		{"override until before from", users + "schedules:\n  - name: s\n    overrides:\n      - {user: alice, from: 2026-11-20T18:00:00Z, until: 2026-11-20T18:00:00Z}\n",
			`oncall.yml:7: override for "alice": until 2026-11-20T18:00:00Z must be after from 2026-11-20T18:00:00Z`},
		{"override until before from in another zone", users + "schedules:\n  - name: s\n    overrides:\n      - {user: alice, from: \"2026-11-20T18:00:00Z\", until: \"2026-11-20T19:00:00+02:00\"}\n",
			`oncall.yml:7: override for "alice": until 2026-11-20T19:00:00+02:00 must be after from 2026-11-20T18:00:00Z`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := yamlconf.Decode("oncall.yml", []byte(tc.yaml), &testConfig{})
			if err == nil {
				t.Fatal("want an error, got none")
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}

func TestConfigErrorsAllReported(t *testing.T) {
	data := `users:
  - name: alice
  - name: alice
schedules:
  - name: s
    layers:
      - rotation: daily
        participants: [alice, bob]
    overrides:
      - {user: carol, from: 2026-11-20T18:00:00Z, until: 2026-11-21T09:00:00Z}
`
	err := yamlconf.Decode("oncall.yml", []byte(data), &testConfig{})
	want := `oncall.yml:3: user name "alice" is used twice
oncall.yml:8: layer "layer-1" of schedule "s" names user "bob", which is not defined (users: alice)
oncall.yml:10: override in schedule "s" names user "carol", which is not defined (users: alice)`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

// Configs built in code have no lines: the errors are the bare reasons.
func TestCompileWithoutLines(t *testing.T) {
	_, _, err := Compile(
		[]UserConfig{{Name: "alice"}, {Name: "alice"}},
		[]ScheduleConfig{{Name: "s", Layers: []LayerConfig{
			{Rotation: "daily", Handoff: "09:00", Start: "2026-01-05", Participants: []string{"bob"}},
			{Name: "layer-1", Rotation: "daily", Handoff: "09:00", Start: "2026-01-05", Participants: []string{"alice"}},
			{Rotation: "daily", Participants: []string{"alice"}},
		}}},
	)
	want := "user name \"alice\" is used twice\n" +
		`layer "layer-1" of schedule "s" names user "bob", which is not defined (users: alice)` + "\n" +
		`schedule "s": layer name "layer-1" is used twice` + "\n" +
		`layer "layer-3": handoff "" must be a time of day as HH:MM, 00:00 to 23:59`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		t.Errorf("error without lines is a %T; want a plain error", te)
	}
}

// A config built in code compiles too; it sets what YAML would default.
func TestCompileInCode(t *testing.T) {
	dir, schedules, err := Compile(
		[]UserConfig{{Name: "alice"}},
		[]ScheduleConfig{{Name: "s", TimeZone: "Europe/London", Layers: []LayerConfig{
			{Rotation: "weekly", Handoff: DefaultHandoff, Start: DefaultStart, Participants: []string{"alice"}},
		}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := schedules["s"].OnCall(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)); !ok || u != "alice" {
		t.Errorf("OnCall = %q, %v; want alice", u, ok)
	}
	if len(dir.Users()) != 1 {
		t.Errorf("users: %v", dir.Users())
	}
}

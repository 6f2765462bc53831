package escalation

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// file is how the receiver's config embeds the policies.
type file struct {
	EscalationPolicies Policies `yaml:"escalation_policies"`
}

func loadExample(t *testing.T) *Policy {
	t.Helper()
	var f file
	if err := yamlconf.LoadFile("testdata/example.yml", &f); err != nil {
		t.Fatal(err)
	}
	p, ok := f.EscalationPolicies.Get("default")
	if !ok {
		t.Fatal("example.yml has no policy named default")
	}
	return p
}

func TestExampleLoads(t *testing.T) {
	got := loadExample(t)
	want := &Policy{
		Name: "default",
		Levels: []Level{
			{Delay: 0, Targets: []Target{{Schedule: "primary"}}},
			{Delay: 30 * time.Minute, Targets: []Target{{User: "senior"}}},
			{Delay: time.Hour, Targets: []Target{{User: "manager"}}},
			{Delay: 2 * time.Hour, Targets: []Target{{User: "cto"}, {User: "vp-engineering"}}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("example policy (-want +got):\n%s", diff)
	}
}

func TestPolicyDefaults(t *testing.T) {
	var f file
	data := `
escalation_policies:
  - name: two
    repeat: 2
    levels:
      - {delay: 5m, targets: [{user: a}]}
      - {delay: 20m, targets: [{user: b}]}
  - name: one
    repeat: 1
    levels:
      - {delay: 10m, targets: [{user: a}]}
  - name: set
    repeat: 1
    loop_after: 45m
    levels:
      - {delay: 0s, targets: [{user: a}]}
`
	if err := yamlconf.Decode("receiver.yml", []byte(data), &f); err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for _, p := range f.EscalationPolicies {
		got = append(got, p.loopLength())
	}
	// The last level waits as long as the one before it: 20m + 15m; a
	// lone level waits its delay again.
	want := []time.Duration{35 * time.Minute, 20 * time.Minute, 45 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loop lengths (-want +got):\n%s", diff)
	}
	if _, ok := f.EscalationPolicies.Get("missing"); ok {
		t.Error("Get found a policy that does not exist")
	}
}

func TestPolicyErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"duplicate name", `
escalation_policies:
  - name: default
    levels: [{delay: 0s, targets: [{user: a}]}]
  - name: default
    levels: [{delay: 0s, targets: [{user: b}]}]
`, `receiver.yml:5: escalation policy name "default" is used twice`},
		{"no name", `
escalation_policies:
  - levels: [{delay: 0s, targets: [{user: a}]}]
`, `receiver.yml:3: escalation policy name "" must be letters, digits, '_', '.' or '-'`},
		{"no levels", `
escalation_policies:
  - name: default
`, `receiver.yml:3: escalation policy "default" needs at least one level`},
		{"empty levels", `
escalation_policies:
  - name: default
    levels: []
`, `receiver.yml:3: escalation policy "default" needs at least one level`},
		{"negative repeat", `
escalation_policies:
  - name: default
    repeat: -1
    levels: [{delay: 0s, targets: [{user: a}]}]
`, `receiver.yml:3: escalation policy "default": repeat must be 0 or more, not -1`},
		{"negative ack timeout", `
escalation_policies:
  - name: default
    ack_timeout: -5m
    levels: [{delay: 0s, targets: [{user: a}]}]
`, `receiver.yml:3: escalation policy "default": ack_timeout must be 0 or more, not -5m0s`},
		{"negative first delay", `
escalation_policies:
  - name: default
    levels:
      - delay: -1s
        targets: [{user: a}]
`, `receiver.yml:5: escalation policy "default": level 1 delay must be 0 or more, not -1s`},
		{"equal delays", `
escalation_policies:
  - name: default
    levels:
      - delay: 0s
        targets: [{user: a}]
      - delay: 30m
        targets: [{user: b}]
      - delay: 30m
        targets: [{user: c}]
`, `receiver.yml:9: escalation policy "default": level 3 delay (30m0s) must be later than level 2 delay (30m0s)`},
		{"decreasing delays", `
escalation_policies:
  - name: default
    levels:
      - delay: 1h
        targets: [{user: a}]
      - delay: 30m
        targets: [{user: b}]
`, `receiver.yml:7: escalation policy "default": level 2 delay (30m0s) must be later than level 1 delay (1h0m0s)`},
		{"level without targets", `
escalation_policies:
  - name: default
    levels:
      - delay: 0s
`, `receiver.yml:5: escalation policy "default": level 1 has no targets`},
		{"target with nothing", `
escalation_policies:
  - name: default
    levels:
      - delay: 0s
        targets:
          - {}
`, `receiver.yml:7: a target needs exactly one of schedule, user, slack_user_group or discord_role (it has 0)`},
		{"target with two", `
escalation_policies:
  - name: default
    levels:
      - delay: 0s
        targets:
          - {schedule: primary, user: alice}
`, `receiver.yml:7: a target needs exactly one of schedule, user, slack_user_group or discord_role (it has 2)`},
		{"bad slack group", `
escalation_policies:
  - name: default
    levels:
      - delay: 0s
        targets:
          - slack_user_group: "@oncall"
`, `receiver.yml:7: slack_user_group "@oncall" is not a Slack user group ID (S followed by capitals and digits)`},
		{"bad discord role", `
escalation_policies:
  - name: default
    levels:
      - delay: 0s
        targets:
          - discord_role: "<@&123>"
`, `receiver.yml:7: discord_role "<@&123>" is not a Discord role ID (15 to 20 digits)`},
		{"unknown target key", `
escalation_policies:
  - name: default
    levels:
      - delay: 0s
        targets:
          - team: ops
`, `receiver.yml:7: unknown key "team" (known keys: discord_role, schedule, slack_user_group, user)`},
		{"unknown policy key", `
escalation_policies:
  - name: default
    repeats: 2
    levels: [{delay: 0s, targets: [{user: a}]}]
`, `receiver.yml:4: unknown key "repeats" (known keys: ack_timeout, fallback, levels, loop_after, name, repeat)`},
		{"fallback with two targets", `
escalation_policies:
  - name: default
    fallback: {user: a, schedule: b}
    levels: [{delay: 0s, targets: [{user: a}]}]
`, `receiver.yml:4: a target needs exactly one of schedule, user, slack_user_group or discord_role (it has 2)`},
		{"unknown level key", `
escalation_policies:
  - name: default
    levels:
      - delay: 0s
        wait: 5m
        targets: [{user: a}]
`, `receiver.yml:6: unknown key "wait" (known keys: delay, targets)`},
		{"loop_after too short", `
escalation_policies:
  - name: default
    repeat: 1
    loop_after: 30m
    levels:
      - {delay: 0s, targets: [{user: a}]}
      - {delay: 30m, targets: [{user: b}]}
`, `receiver.yml:3: escalation policy "default": loop_after (30m0s) must be longer than the last level's delay (30m0s)`},
		{"negative loop_after", `
escalation_policies:
  - name: default
    loop_after: -1m
    levels: [{delay: 0s, targets: [{user: a}]}]
`, `receiver.yml:3: escalation policy "default": loop_after must be 0 or more, not -1m0s`},
		{"repeat of a lone immediate level", `
escalation_policies:
  - name: default
    repeat: 3
    levels: [{delay: 0s, targets: [{user: a}]}]
`, `receiver.yml:3: escalation policy "default": repeat needs loop_after when the only level has delay 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := yamlconf.Decode("receiver.yml", []byte(tc.yaml), &file{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestPolicyCheck(t *testing.T) {
	var f file
	data := `
escalation_policies:
  - name: default
    levels:
      - {delay: 0s, targets: [{schedule: primary}, {slack_user_group: S0123ABCD}]}
      - {delay: 30m, targets: [{user: senior}, {discord_role: "123456789012345678"}]}
      - {delay: 1h, targets: [{schedule: secondary}, {user: ghost}]}
  - name: other
    fallback: {user: nobody}
    levels:
      - {delay: 0s, targets: [{schedule: nights}]}
`
	if err := yamlconf.Decode("receiver.yml", []byte(data), &f); err != nil {
		t.Fatal(err)
	}
	var asked []string
	known := func(kind, name string) bool {
		asked = append(asked, kind+" "+name)
		return name == "primary" || name == "senior"
	}
	err := f.EscalationPolicies.Check(known)
	want := `escalation policy "default", level 3: unknown schedule "secondary"
escalation policy "default", level 3: unknown user "ghost"
escalation policy "other", level 1: unknown schedule "nights"
escalation policy "other", fallback: unknown user "nobody"`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
	wantAsked := []string{"schedule primary", "user senior", "schedule secondary", "user ghost", "schedule nights", "user nobody"}
	if diff := cmp.Diff(wantAsked, asked); diff != "" {
		t.Errorf("lookups (-want +got):\n%s", diff)
	}
	if err := loadExample(t).Check(func(string, string) bool { return true }); err != nil {
		t.Errorf("example with every name known: %v", err)
	}
}

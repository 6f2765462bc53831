package main

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/prometheus/common/promslog"
)

// Times at which testdata/oncall.yml's on-call is known: alice holds
// primary in the week of 2026-03-09; office is staffed on weekdays from
// 09:00 to 17:00 only.
var (
	aliceWeek = time.Date(2026, 3, 10, 8, 50, 0, 0, time.UTC) // a Tuesday, before office hours
	saturday  = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
)

func TestOnCallCommand(t *testing.T) {
	for _, tc := range []struct {
		name, schedule string
		at             time.Time
	}{
		{"oncall-all.golden", "", aliceWeek},
		{"oncall-office-saturday.golden", "office", saturday},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := ShowOnCall("testdata/oncall.yml", tc.at, tc.schedule, &out, promslog.NewNopLogger()); err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, filepath.Join("testdata", tc.name), out.String())
		})
	}
	var out bytes.Buffer
	err := ShowOnCall("testdata/oncall.yml", aliceWeek, "secondary", &out, promslog.NewNopLogger())
	if want := `no schedule "secondary" in the config (schedules: primary, office)`; err == nil || err.Error() != want {
		t.Errorf("unknown schedule: error %v, want %q", err, want)
	}
	out.Reset()
	if err := ShowOnCall("testdata/good.yml", aliceWeek, "", &out, promslog.NewNopLogger()); err != nil {
		t.Fatal(err)
	}
	if want := "on call at 2026-03-10T08:50:00Z\nno schedules in the config\n"; out.String() != want {
		t.Errorf("config without schedules: %q, want %q", out.String(), want)
	}
}

func TestSimulateCommand(t *testing.T) {
	for _, tc := range []struct {
		golden, config string
		opts           SimulateOptions
	}{
		{"simulate-critical.golden", "testdata/oncall.yml", SimulateOptions{Alert: "testdata/payload-firing.json", Route: "critical", Start: aliceWeek}},
		{"simulate-office-saturday.golden", "testdata/oncall.yml",
			SimulateOptions{Alert: "testdata/payload-firing.json", Route: "office", Start: saturday, Until: 40 * time.Minute}},
		// Nobody is on call on Saturday for either schedule: the schedule's
		// fallback, then the policy's, is paged instead.
		{"simulate-fallback-saturday.golden", "testdata/oncall-fallback.yml",
			SimulateOptions{Alert: "testdata/payload-firing.json", Route: "office", Start: saturday, Until: 20 * time.Minute}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var out bytes.Buffer
			if err := Simulate(tc.config, tc.opts, &out, promslog.NewNopLogger()); err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, filepath.Join("testdata", tc.golden), out.String())
		})
	}
	for _, tc := range []struct {
		name, config string
		opts         SimulateOptions
		err          string
	}{
		{"route without a policy", "testdata/oncall.yml", SimulateOptions{Alert: "testdata/payload-firing.json", Route: "warning"},
			`route "warning" has no escalation_policy: nobody would be paged by the receiver`},
		{"unknown route", "testdata/oncall.yml", SimulateOptions{Alert: "testdata/payload-firing.json", Route: "nope"},
			`no route "nope" in the config (routes critical, chat, office, warning)`},
		{"several routes with a policy", "testdata/oncall.yml", SimulateOptions{Alert: "testdata/payload-firing.json"},
			"routes critical, chat, office have escalation policies: name one with --route"},
		{"no route with a policy", "testdata/good.yml", SimulateOptions{Alert: "testdata/payload-firing.json"},
			"no route has an escalation_policy: nothing to simulate"},
		{"invalid payload", "testdata/oncall.yml", SimulateOptions{Alert: "testdata/payload-invalid.json", Route: "critical"},
			"testdata/payload-invalid.json: invalid Alertmanager payload: truncated JSON"},
		{"resolved payload", "testdata/oncall.yml", SimulateOptions{Alert: "testdata/payload-resolved.json", Route: "critical"},
			"testdata/payload-resolved.json: no firing alert in the payload: only a firing notification starts an incident"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			tc.opts.Start = aliceWeek
			err := Simulate(tc.config, tc.opts, &out, promslog.NewNopLogger())
			if err == nil {
				t.Fatalf("no error; printed:\n%s", out.String())
			}
			if diff := cmp.Diff(tc.err, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOnCallNoSecrets runs the on-call commands and checks that their
// output holds none of the config's secrets.
func TestOnCallNoSecrets(t *testing.T) {
	var out bytes.Buffer
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := ShowOnCall("testdata/oncall.yml", aliceWeek, "", &out, logger); err != nil {
		t.Fatal(err)
	}
	if err := Simulate("testdata/oncall.yml", SimulateOptions{Alert: "testdata/payload-firing.json", Route: "critical", Start: aliceWeek}, &out, logger); err != nil {
		t.Fatal(err)
	}
	if err := CheckConfig("testdata/oncall.yml", &out, logger); err != nil {
		t.Fatal(err)
	}
	assertNoOnCallSecrets(t, out.String()+logs.String())
}

// The secrets of testdata/oncall.yml.
var onCallSecrets = []string{"s3cret-bearer-oncall", "0123456789abcdef0123456789abcdef"}

func assertNoOnCallSecrets(t *testing.T, text string) {
	t.Helper()
	for _, s := range onCallSecrets {
		if strings.Contains(text, s) {
			t.Errorf("secret %q leaked:\n%s", s, text)
		}
	}
}

// TestCheckConfigCoverageGaps: check-config warns, without failing, about
// the next 14 days' gaps of a schedule that would page nobody, in the
// schedule's zone, and not about schedules whose gaps a fallback covers.
func TestCheckConfigCoverageGaps(t *testing.T) {
	for _, tc := range []struct{ golden, config string }{
		{"check-config-oncall-saturday.golden", "testdata/oncall.yml"},
		{"check-config-fallback-saturday.golden", "testdata/oncall-fallback.yml"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var out bytes.Buffer
			if err := checkConfigAt(tc.config, saturday, &out, promslog.NewNopLogger()); err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, filepath.Join("testdata", tc.golden), out.String())
		})
	}
}

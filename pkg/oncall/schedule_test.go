package oncall

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

const people = `users:
  - name: alice
  - name: bob
  - name: carol
  - name: dave
`

// check asserts who is on call at each of the given times.
func check(t *testing.T, s *Schedule, want map[string]string) {
	t.Helper()
	for at, who := range want {
		got, ok := s.OnCall(ts(t, at))
		if got != who || ok != (who != "") {
			t.Errorf("OnCall(%s) = %q, %v; want %q", at, got, ok, who)
		}
	}
}

// render writes shifts one a line, in the schedule's zone.
func render(shifts []Shift) []string {
	out := make([]string, len(shifts))
	for i, sh := range shifts {
		who := sh.User
		if who == "" {
			who = "(nobody)"
		}
		out[i] = fmt.Sprintf("%s  %s  %-8s %s", sh.From.Format("Mon 2006-01-02 15:04 MST"),
			sh.Until.Format("Mon 2006-01-02 15:04 MST"), who, sh.Until.Sub(sh.From))
	}
	return out
}

func checkShifts(t *testing.T, s *Schedule, from, until string, want []string) {
	t.Helper()
	got := render(s.Shifts(ts(t, from), ts(t, until)))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Shifts (-want +got):\n%s", diff)
	}
}

func TestDailyRotation(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    layers:
      - rotation: daily
        handoff: "09:00"
        start: 2026-01-05
        participants: [alice, bob, carol]
`, "s")
	check(t, s, map[string]string{
		"2026-01-05T09:00:00Z": "alice", // the first shift starts exactly at the handoff
		"2026-01-06T08:59:59Z": "alice",
		"2026-01-06T09:00:00Z": "bob",
		"2026-01-07T09:00:00Z": "carol",
		"2026-01-08T09:00:00Z": "alice", // wrap-around
		"2027-01-05T09:00:00Z": "carol", // 365 days on, and 365 mod 3 = 2
		// Before the start the rotation runs backwards: carol, bob, alice, carol.
		"2026-01-05T08:59:59Z": "carol",
		"2026-01-04T09:00:00Z": "carol",
		"2026-01-03T09:00:00Z": "bob",
		"2026-01-02T09:00:00Z": "alice",
		"2026-01-01T10:00:00Z": "carol",
	})
}

func TestWeeklyRotation(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    time_zone: Europe/London
    layers:
      - rotation: weekly
        handoff: "09:00"
        start: 2026-01-05
        participants: [alice, bob, carol]
`, "s")
	check(t, s, map[string]string{
		"2026-01-05T09:00:00Z": "alice",
		"2026-01-12T08:59:00Z": "alice",
		"2026-01-12T09:00:00Z": "bob",
		"2026-01-19T09:00:00Z": "carol",
		"2026-01-26T09:00:00Z": "alice",
		"2026-01-05T08:59:00Z": "carol",
		"2025-12-29T09:00:00Z": "carol",
		"2025-12-22T09:00:00Z": "bob",
		// Mondays at 09:00 London time, also in summer (08:00 UTC):
		// 2026-06-29 is 25 weeks after the start, 25 mod 3 = 1.
		"2026-06-29T07:59:00Z": "alice",
		"2026-06-29T08:00:00Z": "bob",
	})
}

// Monthly shifts start on the start's day of the month, clamped to the
// last day of shorter months.
func TestMonthlyRotationOnThe31st(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    layers:
      - rotation: monthly
        handoff: "09:00"
        start: 2026-01-31
        participants: [alice, bob]
`, "s")
	checkShifts(t, s, "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", []string{
		"Thu 2026-01-01 00:00 UTC  Sat 2026-01-31 09:00 UTC  bob      729h0m0s",
		"Sat 2026-01-31 09:00 UTC  Sat 2026-02-28 09:00 UTC  alice    672h0m0s",
		"Sat 2026-02-28 09:00 UTC  Tue 2026-03-31 09:00 UTC  bob      744h0m0s",
		"Tue 2026-03-31 09:00 UTC  Thu 2026-04-30 09:00 UTC  alice    720h0m0s",
		"Thu 2026-04-30 09:00 UTC  Sun 2026-05-31 09:00 UTC  bob      744h0m0s",
		"Sun 2026-05-31 09:00 UTC  Mon 2026-06-01 00:00 UTC  alice    15h0m0s",
	})
	check(t, s, map[string]string{
		"2026-01-31T09:00:00Z": "alice",
		"2026-02-27T12:00:00Z": "alice",
		"2026-02-28T09:00:00Z": "bob",
		"2026-03-30T12:00:00Z": "bob",
		"2026-03-31T09:00:00Z": "alice",
		"2026-04-30T09:00:00Z": "bob",
		"2026-05-31T09:00:00Z": "alice",
		"2025-12-31T09:00:00Z": "bob",
		"2025-12-31T08:59:00Z": "alice",
	})
}

func TestHourlyRotation(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    layers:
      - rotation: hourly
        shift_hours: 8
        handoff: "06:00"
        start: 2026-01-05
        participants: [alice, bob, carol]
`, "s")
	check(t, s, map[string]string{
		"2026-01-05T06:00:00Z": "alice",
		"2026-01-05T14:00:00Z": "bob",
		"2026-01-05T22:00:00Z": "carol",
		"2026-01-06T06:00:00Z": "alice",
		"2026-01-05T05:59:59Z": "carol",
		"2026-01-04T22:00:00Z": "carol",
		"2026-01-04T21:59:59Z": "bob",
	})
}

// A daily 09:00 handoff stays at 09:00 local time when the clocks change,
// so the shifts either side of the change last 23 and 25 hours.
func TestDailyHandoffAcrossDSTInLondon(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    time_zone: Europe/London
    layers:
      - rotation: daily
        handoff: "09:00"
        start: 2026-03-01
        participants: [alice, bob]
`, "s")
	checkShifts(t, s, "2026-03-28T09:00:00Z", "2026-03-30T08:00:00Z", []string{
		"Sat 2026-03-28 09:00 GMT  Sun 2026-03-29 09:00 BST  bob      23h0m0s",
		"Sun 2026-03-29 09:00 BST  Mon 2026-03-30 09:00 BST  alice    24h0m0s",
	})
	checkShifts(t, s, "2026-10-24T08:00:00Z", "2026-10-26T09:00:00Z", []string{
		"Sat 2026-10-24 09:00 BST  Sun 2026-10-25 09:00 GMT  bob      25h0m0s",
		"Sun 2026-10-25 09:00 GMT  Mon 2026-10-26 09:00 GMT  alice    24h0m0s",
	})
}

func TestHandoffsAcrossDSTInNewYork(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    time_zone: America/New_York
    layers:
      - name: daily
        rotation: daily
        handoff: "09:00"
        start: 2026-03-01
        participants: [alice, bob]
`, "s")
	checkShifts(t, s, "2026-03-07T14:00:00Z", "2026-03-09T13:00:00Z", []string{
		"Sat 2026-03-07 09:00 EST  Sun 2026-03-08 09:00 EDT  alice    23h0m0s",
		"Sun 2026-03-08 09:00 EDT  Mon 2026-03-09 09:00 EDT  bob      24h0m0s",
	})
	checkShifts(t, s, "2026-10-31T13:00:00Z", "2026-11-02T14:00:00Z", []string{
		"Sat 2026-10-31 09:00 EDT  Sun 2026-11-01 09:00 EST  alice    25h0m0s",
		"Sun 2026-11-01 09:00 EST  Mon 2026-11-02 09:00 EST  bob      24h0m0s",
	})
	// 02:30 does not exist on 8 March: that handoff happens at 03:30 EDT,
	// the time the clock would read had it not jumped, and the next day's
	// is back at 02:30.
	early := schedule(t, people+`schedules:
  - name: early
    time_zone: America/New_York
    layers:
      - rotation: daily
        handoff: "02:30"
        start: 2026-03-01
        participants: [alice, bob]
`, "early")
	checkShifts(t, early, "2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z", []string{
		"Sat 2026-03-07 02:30 EST  Sun 2026-03-08 03:30 EDT  alice    24h0m0s",
		"Sun 2026-03-08 03:30 EDT  Mon 2026-03-09 02:30 EDT  bob      23h0m0s",
	})
	// 01:30 happens twice on 1 November: the handoff is at the first.
	night := schedule(t, people+`schedules:
  - name: night
    time_zone: America/New_York
    layers:
      - rotation: daily
        handoff: "01:30"
        start: 2026-10-01
        participants: [alice, bob]
`, "night")
	checkShifts(t, night, "2026-10-31T05:30:00Z", "2026-11-02T06:30:00Z", []string{
		"Sat 2026-10-31 01:30 EDT  Sun 2026-11-01 01:30 EDT  alice    24h0m0s",
		"Sun 2026-11-01 01:30 EDT  Mon 2026-11-02 01:30 EST  bob      25h0m0s",
	})
}

// Hourly shifts are exact durations: across a change of the clocks the
// handoff moves on the wall clock instead.
func TestHourlyRotationAcrossDST(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    time_zone: America/New_York
    layers:
      - rotation: hourly
        shift_hours: 12
        handoff: "08:00"
        start: 2026-03-01
        participants: [alice, bob]
`, "s")
	checkShifts(t, s, "2026-03-07T13:00:00Z", "2026-03-09T01:00:00Z", []string{
		"Sat 2026-03-07 08:00 EST  Sat 2026-03-07 20:00 EST  alice    12h0m0s",
		"Sat 2026-03-07 20:00 EST  Sun 2026-03-08 09:00 EDT  bob      12h0m0s",
		"Sun 2026-03-08 09:00 EDT  Sun 2026-03-08 21:00 EDT  alice    12h0m0s",
	})
}

func TestWeeklyHandoffAcrossDST(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    time_zone: Europe/London
    layers:
      - rotation: weekly
        handoff: "09:00"
        start: 2026-03-16
        participants: [alice, bob]
`, "s")
	checkShifts(t, s, "2026-03-23T09:00:00Z", "2026-04-06T08:00:00Z", []string{
		"Mon 2026-03-23 09:00 GMT  Mon 2026-03-30 09:00 BST  bob      167h0m0s",
		"Mon 2026-03-30 09:00 BST  Mon 2026-04-06 09:00 BST  alice    168h0m0s",
	})
}

func TestRestrictions(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: office
    time_zone: Europe/London
    layers:
      - rotation: weekly
        start: 2026-01-05
        participants: [alice]
        restrictions:
          - days: [mon, tue, wed, thu, fri]
            from: "09:00"
            to: "17:00"
  - name: nights
    time_zone: Europe/London
    layers:
      - rotation: weekly
        start: 2026-01-05
        participants: [bob]
        restrictions:
          - days: [fri]
            from: "22:00"
            to: "06:00"
  - name: weekends
    layers:
      - rotation: weekly
        start: 2026-01-05
        participants: [carol]
        restrictions:
          - days: [sat, sun]
`, "office")
	check(t, s, map[string]string{
		"2026-01-09T16:59:00Z": "alice", // Friday
		"2026-01-09T17:00:00Z": "",
		"2026-01-10T12:00:00Z": "", // Saturday
		"2026-01-12T08:59:00Z": "", // Monday
		"2026-01-12T09:00:00Z": "alice",
		"2026-07-13T08:00:00Z": "alice", // 09:00 BST
		"2026-07-13T07:59:00Z": "",
	})
	c := load(t, people+`schedules:
  - name: nights
    time_zone: Europe/London
    layers:
      - rotation: weekly
        start: 2026-01-05
        participants: [bob]
        restrictions:
          - days: [fri]
            from: "22:00"
            to: "06:00"
  - name: weekends
    layers:
      - rotation: weekly
        start: 2026-01-05
        participants: [carol]
        restrictions:
          - days: [sat, sun]
`)
	// The window over midnight belongs to the day it starts on.
	check(t, c.schedules["nights"], map[string]string{
		"2026-01-09T21:59:00Z": "",
		"2026-01-09T22:00:00Z": "bob", // Friday night
		"2026-01-10T05:59:00Z": "bob", // Saturday morning
		"2026-01-10T06:00:00Z": "",
		"2026-01-08T23:00:00Z": "", // Thursday night
		"2026-01-10T23:00:00Z": "", // Saturday night
	})
	// Days without times are whole days.
	check(t, c.schedules["weekends"], map[string]string{
		"2026-01-09T23:59:59Z": "",
		"2026-01-10T00:00:00Z": "carol",
		"2026-01-11T23:59:59Z": "carol",
		"2026-01-12T00:00:00Z": "",
	})
	// The night the clocks go forward is an hour shorter, the night they
	// go back an hour longer.
	saturdays := schedule(t, people+`schedules:
  - name: s
    time_zone: Europe/London
    layers:
      - rotation: weekly
        participants: [bob]
        restrictions:
          - days: [sat]
            from: "22:00"
            to: "06:00"
`, "s")
	checkShifts(t, saturdays, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z", []string{
		"Sat 2026-03-28 12:00 GMT  Sat 2026-03-28 22:00 GMT  (nobody) 10h0m0s",
		"Sat 2026-03-28 22:00 GMT  Sun 2026-03-29 06:00 BST  bob      7h0m0s",
		"Sun 2026-03-29 06:00 BST  Sun 2026-03-29 13:00 BST  (nobody) 7h0m0s",
	})
	checkShifts(t, saturdays, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z", []string{
		"Sat 2026-10-24 13:00 BST  Sat 2026-10-24 22:00 BST  (nobody) 9h0m0s",
		"Sat 2026-10-24 22:00 BST  Sun 2026-10-25 06:00 GMT  bob      9h0m0s",
		"Sun 2026-10-25 06:00 GMT  Sun 2026-10-25 12:00 GMT  (nobody) 6h0m0s",
	})
}

// The highest layer with someone on call wins; where it has nobody, the
// layers below show through.
func TestLayers(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    layers:
      - name: base
        rotation: daily
        start: 2026-01-05
        participants: [alice, bob]
      - name: office
        rotation: weekly
        start: 2026-01-05
        participants: [carol]
        restrictions:
          - days: [mon, tue, wed, thu, fri]
            from: "09:00"
            to: "17:00"
`, "s")
	checkShifts(t, s, "2026-01-09T00:00:00Z", "2026-01-12T12:00:00Z", []string{
		"Fri 2026-01-09 00:00 UTC  Fri 2026-01-09 09:00 UTC  alice    9h0m0s",
		"Fri 2026-01-09 09:00 UTC  Fri 2026-01-09 17:00 UTC  carol    8h0m0s",
		"Fri 2026-01-09 17:00 UTC  Sat 2026-01-10 00:00 UTC  alice    7h0m0s",
		"Sat 2026-01-10 00:00 UTC  Sun 2026-01-11 00:00 UTC  bob      24h0m0s",
		"Sun 2026-01-11 00:00 UTC  Mon 2026-01-12 00:00 UTC  alice    24h0m0s",
		"Mon 2026-01-12 00:00 UTC  Mon 2026-01-12 09:00 UTC  bob      9h0m0s",
		"Mon 2026-01-12 09:00 UTC  Mon 2026-01-12 12:00 UTC  carol    3h0m0s",
	})
}

func TestOverrides(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    layers:
      - rotation: daily
        handoff: "09:00"
        start: 2026-01-05
        participants: [alice, bob]
      - name: top
        rotation: daily
        start: 2026-01-05
        participants: [carol]
        restrictions:
          - {days: [sat], from: "12:00", to: "14:00"}
    overrides:
      # inside bob's shift
      - {user: dave, from: 2026-01-06T12:00:00Z, until: 2026-01-06T13:00:00Z}
      # over a handoff
      - {user: dave, from: 2026-01-07T08:00:00Z, until: 2026-01-07T10:00:00Z}
      # two adjacent overrides of different people, over a higher layer
      - {user: alice, from: 2026-01-10T11:00:00Z, until: 2026-01-10T13:00:00Z}
      - {user: dave, from: 2026-01-10T13:00:00Z, until: 2026-01-10T15:00:00Z}
      # a later override beats an earlier one
      - {user: bob, from: 2026-01-11T11:00:00Z, until: 2026-01-11T15:00:00Z}
      - {user: carol, from: 2026-01-11T12:00:00Z, until: 2026-01-11T13:00:00Z}
`, "s")
	check(t, s, map[string]string{
		"2026-01-06T11:59:59Z": "bob",
		"2026-01-06T12:00:00Z": "dave",
		"2026-01-06T13:00:00Z": "bob",
		"2026-01-10T12:30:00Z": "alice", // over the top layer
		"2026-01-10T13:30:00Z": "dave",
		"2026-01-10T14:30:00Z": "dave",
		"2026-01-11T12:30:00Z": "carol",
	})
	checkShifts(t, s, "2026-01-06T09:00:00Z", "2026-01-07T12:00:00Z", []string{
		"Tue 2026-01-06 09:00 UTC  Tue 2026-01-06 12:00 UTC  bob      3h0m0s",
		"Tue 2026-01-06 12:00 UTC  Tue 2026-01-06 13:00 UTC  dave     1h0m0s",
		"Tue 2026-01-06 13:00 UTC  Wed 2026-01-07 08:00 UTC  bob      19h0m0s",
		"Wed 2026-01-07 08:00 UTC  Wed 2026-01-07 10:00 UTC  dave     2h0m0s",
		"Wed 2026-01-07 10:00 UTC  Wed 2026-01-07 12:00 UTC  alice    2h0m0s",
	})
	checkShifts(t, s, "2026-01-10T10:00:00Z", "2026-01-10T16:00:00Z", []string{
		"Sat 2026-01-10 10:00 UTC  Sat 2026-01-10 11:00 UTC  bob      1h0m0s",
		"Sat 2026-01-10 11:00 UTC  Sat 2026-01-10 13:00 UTC  alice    2h0m0s",
		"Sat 2026-01-10 13:00 UTC  Sat 2026-01-10 15:00 UTC  dave     2h0m0s",
		"Sat 2026-01-10 15:00 UTC  Sat 2026-01-10 16:00 UTC  bob      1h0m0s",
	})
	checkShifts(t, s, "2026-01-11T10:00:00Z", "2026-01-11T16:00:00Z", []string{
		"Sun 2026-01-11 10:00 UTC  Sun 2026-01-11 11:00 UTC  alice    1h0m0s",
		"Sun 2026-01-11 11:00 UTC  Sun 2026-01-11 12:00 UTC  bob      1h0m0s",
		"Sun 2026-01-11 12:00 UTC  Sun 2026-01-11 13:00 UTC  carol    1h0m0s",
		"Sun 2026-01-11 13:00 UTC  Sun 2026-01-11 15:00 UTC  bob      2h0m0s",
		"Sun 2026-01-11 15:00 UTC  Sun 2026-01-11 16:00 UTC  alice    1h0m0s",
	})
}

// A schedule of overrides only has nobody on call outside them; adjacent
// overrides of one person merge into one shift.
func TestOverridesOnly(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    overrides:
      - {user: dave, from: 2026-01-06T12:00:00Z, until: 2026-01-06T13:00:00Z}
      - {user: dave, from: 2026-01-06T13:00:00Z, until: 2026-01-06T14:00:00+00:00}
`, "s")
	checkShifts(t, s, "2026-01-06T11:00:00Z", "2026-01-06T15:00:00Z", []string{
		"Tue 2026-01-06 11:00 UTC  Tue 2026-01-06 12:00 UTC  (nobody) 1h0m0s",
		"Tue 2026-01-06 12:00 UTC  Tue 2026-01-06 14:00 UTC  dave     2h0m0s",
		"Tue 2026-01-06 14:00 UTC  Tue 2026-01-06 15:00 UTC  (nobody) 1h0m0s",
	})
}

func TestShiftsMergeAndBounds(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    layers:
      - rotation: daily
        participants: [alice, alice, bob]
`, "s")
	// 2024-01-01 is shift 0: alice, alice, bob, alice, alice, bob...
	checkShifts(t, s, "2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z", []string{
		"Mon 2024-01-01 00:00 UTC  Wed 2024-01-03 00:00 UTC  alice    48h0m0s",
		"Wed 2024-01-03 00:00 UTC  Thu 2024-01-04 00:00 UTC  bob      24h0m0s",
		"Thu 2024-01-04 00:00 UTC  Fri 2024-01-05 00:00 UTC  alice    24h0m0s",
	})
	if got := s.Shifts(ts(t, "2024-01-02T00:00:00Z"), ts(t, "2024-01-02T00:00:00Z")); got != nil {
		t.Errorf("Shifts over an empty interval = %v, want nil", got)
	}
	if got := s.Shifts(ts(t, "2024-01-03T00:00:00Z"), ts(t, "2024-01-02T00:00:00Z")); got != nil {
		t.Errorf("Shifts over a reversed interval = %v, want nil", got)
	}
}

func TestGaps(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    time_zone: Europe/London
    layers:
      - rotation: weekly
        participants: [alice]
        restrictions:
          - {days: [mon, tue, wed, thu, fri], from: "08:00", to: "20:00"}
      - rotation: weekly
        participants: [bob]
        restrictions:
          - {days: [sat], from: "10:00", to: "18:00"}
    overrides:
      - {user: carol, from: 2026-01-11T00:00:00Z, until: 2026-01-12T00:00:00Z}
`, "s")
	got := render(s.Gaps(ts(t, "2026-01-08T00:00:00Z"), ts(t, "2026-01-13T00:00:00Z")))
	want := []string{
		"Thu 2026-01-08 00:00 GMT  Thu 2026-01-08 08:00 GMT  (nobody) 8h0m0s",
		"Thu 2026-01-08 20:00 GMT  Fri 2026-01-09 08:00 GMT  (nobody) 12h0m0s",
		"Fri 2026-01-09 20:00 GMT  Sat 2026-01-10 10:00 GMT  (nobody) 14h0m0s",
		"Sat 2026-01-10 18:00 GMT  Sun 2026-01-11 00:00 GMT  (nobody) 6h0m0s",
		"Mon 2026-01-12 00:00 GMT  Mon 2026-01-12 08:00 GMT  (nobody) 8h0m0s",
		"Mon 2026-01-12 20:00 GMT  Tue 2026-01-13 00:00 GMT  (nobody) 4h0m0s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Gaps (-want +got):\n%s", diff)
	}
	full := schedule(t, people+`schedules:
  - name: s
    layers:
      - {rotation: daily, participants: [alice, bob]}
`, "s")
	if gaps := full.Gaps(ts(t, "2026-01-08T00:00:00Z"), ts(t, "2026-01-15T00:00:00Z")); len(gaps) != 0 {
		t.Errorf("Gaps of a full schedule = %v, want none", render(gaps))
	}
}

func TestNextHandoffs(t *testing.T) {
	s := schedule(t, people+`schedules:
  - name: s
    time_zone: Europe/London
    layers:
      - rotation: weekly
        handoff: "09:00"
        start: 2026-01-05
        participants: [alice, bob]
        restrictions:
          - {days: [mon, tue, wed, thu, fri, sat], from: "09:00", to: "09:00"}
`, "s")
	var got []string
	// Exactly at a handoff, that handoff is not a next one.
	for _, h := range s.NextHandoffs(ts(t, "2026-01-12T09:00:00Z"), 4) {
		got = append(got, fmt.Sprintf("%s %q -> %q", h.At.Format("Mon 2006-01-02 15:04 MST"), h.From, h.To))
	}
	want := []string{
		`Sun 2026-01-18 09:00 GMT "bob" -> ""`,
		`Mon 2026-01-19 09:00 GMT "" -> "alice"`,
		`Sun 2026-01-25 09:00 GMT "alice" -> ""`,
		`Mon 2026-01-26 09:00 GMT "" -> "bob"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NextHandoffs (-want +got):\n%s", diff)
	}
}

// A schedule that never changes has no next handoff, and the search
// ends; one far-off override is still found within the horizon.
func TestNextHandoffsOfAStaticSchedule(t *testing.T) {
	static := `schedules:
  - name: s
    layers:
      - {rotation: monthly, participants: [alice]}
`
	if got := schedule(t, people+static, "s").NextHandoffs(ts(t, "2026-01-01T00:00:00Z"), 3); len(got) != 0 {
		t.Errorf("NextHandoffs = %v, want none", got)
	}
	s := schedule(t, people+static+`    overrides:
      - {user: bob, from: 2027-03-01T00:00:00Z, until: 2027-03-02T00:00:00Z}
`, "s")
	want := []Handoff{
		{At: ts(t, "2027-03-01T00:00:00Z"), From: "alice", To: "bob"},
		{At: ts(t, "2027-03-02T00:00:00Z"), From: "bob", To: "alice"},
	}
	got := s.NextHandoffs(ts(t, "2026-01-01T00:00:00Z"), 3)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NextHandoffs (-want +got):\n%s", diff)
	}
}

// TestShiftsGolden renders four weeks of the example schedule around the
// autumn clock change, with layers, restrictions and an override.
func TestShiftsGolden(t *testing.T) {
	c := &testConfig{}
	if err := yamlconf.LoadFile("testdata/oncall.yml", c); err != nil {
		t.Fatal(err)
	}
	s := c.schedules["primary"]
	var b strings.Builder
	for _, line := range render(s.Shifts(ts(t, "2026-10-19T00:00:00Z"), ts(t, "2026-11-23T00:00:00Z"))) {
		b.WriteString(line + "\n")
	}
	testkit.Golden(t, filepath.Join("testdata", "primary-shifts.golden"), b.String())
}

package oncall

import (
	"testing"
	"time"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// ts parses an RFC 3339 time.
func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLocalTime(t *testing.T) {
	london, newYork := zone(t, "Europe/London"), zone(t, "America/New_York")
	for _, tc := range []struct {
		name   string
		d      date
		clock  string
		loc    *time.Location
		want   string
		wantAt string // the wall clock, to show what the instant reads as
	}{
		{"ordinary day", date{2026, time.January, 5}, "09:00", london, "2026-01-05T09:00:00Z", "09:00 GMT"},
		{"summer", date{2026, time.July, 1}, "09:00", london, "2026-07-01T08:00:00Z", "09:00 BST"},
		// London jumps from 01:00 GMT to 02:00 BST on 29 March 2026.
		{"london skipped time", date{2026, time.March, 29}, "01:30", london, "2026-03-29T01:30:00Z", "02:30 BST"},
		{"london after the jump", date{2026, time.March, 29}, "02:30", london, "2026-03-29T01:30:00Z", "02:30 BST"},
		// London goes back from 02:00 BST to 01:00 GMT on 25 October 2026:
		// 01:30 happens twice and the first one counts.
		{"london repeated time", date{2026, time.October, 25}, "01:30", london, "2026-10-25T00:30:00Z", "01:30 BST"},
		// New York jumps from 02:00 EST to 03:00 EDT on 8 March 2026.
		{"new york skipped time", date{2026, time.March, 8}, "02:30", newYork, "2026-03-08T07:30:00Z", "03:30 EDT"},
		{"new york at the jump", date{2026, time.March, 8}, "02:00", newYork, "2026-03-08T07:00:00Z", "03:00 EDT"},
		// New York goes back from 02:00 EDT to 01:00 EST on 1 November 2026.
		{"new york repeated time", date{2026, time.November, 1}, "01:30", newYork, "2026-11-01T05:30:00Z", "01:30 EDT"},
		{"new york after the repeat", date{2026, time.November, 1}, "02:00", newYork, "2026-11-01T07:00:00Z", "02:00 EST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			minute, err := parseClock(tc.clock)
			if err != nil {
				t.Fatal(err)
			}
			got := localTime(tc.d, minute, tc.loc)
			if !got.Equal(ts(t, tc.want)) {
				t.Errorf("localTime = %s, want %s", got.UTC().Format(time.RFC3339), tc.want)
			}
			if at := got.Format("15:04 MST"); at != tc.wantAt {
				t.Errorf("reads %s, want %s", at, tc.wantAt)
			}
		})
	}
}

func TestAddMonthsClampsToMonthEnd(t *testing.T) {
	start := date{2026, time.January, 31}
	for n, want := range []date{
		{2026, time.January, 31}, {2026, time.February, 28}, {2026, time.March, 31},
		{2026, time.April, 30}, {2026, time.May, 31},
	} {
		if got := start.addMonths(n); got != want {
			t.Errorf("addMonths(%d) = %v, want %v", n, got, want)
		}
	}
	if got := (date{2024, time.January, 31}).addMonths(1); got != (date{2024, time.February, 29}) {
		t.Errorf("leap year: %v, want 2024-02-29", got)
	}
	if got := start.addMonths(-2); got != (date{2025, time.November, 30}) {
		t.Errorf("backwards: %v, want 2025-11-30", got)
	}
}

func TestFloorDiv(t *testing.T) {
	for _, tc := range []struct{ a, b, want int }{
		{7, 7, 1}, {6, 7, 0}, {0, 7, 0}, {-1, 7, -1}, {-7, 7, -1}, {-8, 7, -2},
	} {
		if got := floorDiv(tc.a, tc.b); got != tc.want {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

package oncall

import (
	"time"
)

// date is a calendar date without a zone.
type date struct {
	year  int
	month time.Month
	day   int
}

// dateOf is the calendar date of t in t's own location.
func dateOf(t time.Time) date {
	y, m, d := t.Date()
	return date{y, m, d}
}

// addDays moves a date by n days (n may be negative).
func (d date) addDays(n int) date {
	return dateOf(time.Date(d.year, d.month, d.day+n, 0, 0, 0, 0, time.UTC))
}

// addMonths moves a date by n months, keeping its day of the month but
// clamping it to the last day of a shorter month: 31 January plus one
// month is 28 (or 29) February.
func (d date) addMonths(n int) date {
	first := time.Date(d.year, d.month+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return date{first.Year(), first.Month(), min(d.day, last)}
}

// daysUntil is the number of days from d to e, negative if e is earlier.
func (d date) daysUntil(e date) int {
	a := time.Date(d.year, d.month, d.day, 0, 0, 0, 0, time.UTC)
	b := time.Date(e.year, e.month, e.day, 0, 0, 0, 0, time.UTC)
	return int(b.Sub(a) / (24 * time.Hour))
}

// monthsUntil is the number of calendar months from d's month to e's.
func (d date) monthsUntil(e date) int {
	return (e.year-d.year)*12 + int(e.month-d.month)
}

func (d date) weekday() time.Weekday {
	return time.Date(d.year, d.month, d.day, 0, 0, 0, 0, time.UTC).Weekday()
}

// zoneProbe is how far from a wall-clock time localTime looks for the UTC
// offsets in force around it: more than the largest UTC offset (14h) plus
// a day, so that both sides of a nearby transition are seen.
const zoneProbe = 40 * time.Hour

// localTime is the instant at which the wall clock in loc shows the given
// date and minute of the day. Unlike time.Date, whose choice depends on
// which side of UTC the zone lies, it follows RFC 5545 (iCalendar): a
// time that occurs twice, when clocks go back, is the first occurrence; a
// time skipped when clocks go forward is read with the UTC offset before
// the jump, so 02:30 on a day that jumps from 02:00 to 03:00 is 03:30.
func localTime(d date, minute int, loc *time.Location) time.Time {
	wall := time.Date(d.year, d.month, d.day, 0, minute, 0, 0, time.UTC)
	_, before := wall.Add(-zoneProbe).In(loc).Zone()
	_, after := wall.Add(zoneProbe).In(loc).Zone()
	var best time.Time
	for _, offset := range []int{before, after} {
		t := wall.Add(-time.Duration(offset) * time.Second).In(loc)
		if sameWall(t, wall) && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if best.IsZero() {
		best = wall.Add(-time.Duration(before) * time.Second).In(loc)
	}
	return best
}

// sameWall reports whether t's wall clock reads like wall's (in UTC).
func sameWall(t, wall time.Time) bool {
	return t.Year() == wall.Year() && t.YearDay() == wall.YearDay() &&
		t.Hour() == wall.Hour() && t.Minute() == wall.Minute()
}

// layer is one compiled rotation. Shift k, for any integer k, runs from
// boundary(k) to boundary(k+1) and belongs to participant k modulo the
// number of participants; shift 0 starts on the start date at the
// handoff time, and shifts before it exist too.
type layer struct {
	name         string
	rotation     string
	shift        time.Duration // hourly only
	start        date
	handoff      int // minutes after local midnight
	loc          *time.Location
	participants []string
	windows      []window
}

func newLayer(name, rotation string, shift time.Duration, start date, handoff int, loc *time.Location, participants []string, windows []window) *layer {
	return &layer{
		name: name, rotation: rotation, shift: shift, start: start, handoff: handoff,
		loc: loc, participants: participants, windows: windows,
	}
}

// boundary is the start of shift k. Daily, weekly and monthly shifts
// start at the handoff time on their calendar day, however long the day
// is; hourly shifts are exact durations from the first handoff.
func (l *layer) boundary(k int) time.Time {
	switch l.rotation {
	case RotationHourly:
		return localTime(l.start, l.handoff, l.loc).Add(time.Duration(k) * l.shift)
	case RotationMonthly:
		return localTime(l.start.addMonths(k), l.handoff, l.loc)
	case RotationWeekly:
		return localTime(l.start.addDays(7*k), l.handoff, l.loc)
	default:
		return localTime(l.start.addDays(k), l.handoff, l.loc)
	}
}

// shiftAt is the index of the shift that contains t.
func (l *layer) shiftAt(t time.Time) int {
	k := l.estimate(t)
	for l.boundary(k).After(t) {
		k--
	}
	for !l.boundary(k + 1).After(t) {
		k++
	}
	return k
}

// estimate is a guess of shiftAt, off by at most one or two.
func (l *layer) estimate(t time.Time) int {
	switch l.rotation {
	case RotationHourly:
		return floorDiv(int(t.Sub(l.boundary(0))/time.Minute), int(l.shift/time.Minute))
	case RotationMonthly:
		return l.start.monthsUntil(dateOf(t.In(l.loc)))
	case RotationWeekly:
		return floorDiv(l.start.daysUntil(dateOf(t.In(l.loc))), 7)
	default:
		return l.start.daysUntil(dateOf(t.In(l.loc)))
	}
}

// participant is who takes shift k, wrapping around in both directions.
func (l *layer) participant(k int) string {
	n := len(l.participants)
	return l.participants[((k%n)+n)%n]
}

// onCall is who the layer has on call at t, if anyone.
func (l *layer) onCall(t time.Time) (string, bool) {
	if !l.open(t) {
		return "", false
	}
	return l.participant(l.shiftAt(t)), true
}

// open reports whether t is inside one of the layer's restriction
// windows; a layer without restrictions is always open.
func (l *layer) open(t time.Time) bool {
	if len(l.windows) == 0 {
		return true
	}
	today := dateOf(t.In(l.loc))
	// A window starts on at most one day and lasts at most a day, so
	// only windows starting today or yesterday can contain t.
	for _, d := range []date{today.addDays(-1), today} {
		for _, w := range l.windows {
			if from, until, ok := w.on(d, l.loc); ok && !t.Before(from) && t.Before(until) {
				return true
			}
		}
	}
	return false
}

// changes lists the instants in (from, until) at which the layer may
// change whom it has on call: shift boundaries and window edges.
func (l *layer) changes(from, until time.Time) []time.Time {
	var out []time.Time
	for k := l.shiftAt(from) + 1; ; k++ {
		b := l.boundary(k)
		if !b.Before(until) {
			break
		}
		out = append(out, b)
	}
	first, last := dateOf(from.In(l.loc)).addDays(-1), dateOf(until.In(l.loc))
	for d := first; d.daysUntil(last) >= 0; d = d.addDays(1) {
		for _, w := range l.windows {
			if start, end, ok := w.on(d, l.loc); ok {
				out = appendInside(out, from, until, start, end)
			}
		}
	}
	return out
}

// appendInside appends those of ts that lie strictly inside (from, until).
func appendInside(out []time.Time, from, until time.Time, ts ...time.Time) []time.Time {
	for _, t := range ts {
		if t.After(from) && t.Before(until) {
			out = append(out, t)
		}
	}
	return out
}

// window is a compiled restriction: on each of days, from the minute from
// to the minute to (on the next day when to <= from).
type window struct {
	days     [7]bool
	from, to int
}

// on is the window that starts on local date d, if it does.
func (w window) on(d date, loc *time.Location) (from, until time.Time, ok bool) {
	if !w.days[d.weekday()] {
		return time.Time{}, time.Time{}, false
	}
	end := d
	if w.to <= w.from {
		end = d.addDays(1)
	}
	return localTime(d, w.from, loc), localTime(end, w.to, loc), true
}

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

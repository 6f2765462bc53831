package escalation

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// t0 is the fake clock's start; every test counts from it.
var t0 = time.Date(2026, 3, 10, 8, 50, 0, 0, time.UTC)

// policy builds a policy whose level i pages user "l<i>".
func policy(repeat int, ackTimeout time.Duration, delays ...time.Duration) *Policy {
	p := &Policy{Name: "test", Repeat: repeat, AckTimeout: ackTimeout}
	for i, d := range delays {
		p.Levels = append(p.Levels, Level{Delay: d, Targets: []Target{{User: fmt.Sprintf("l%d", i+1)}}})
	}
	return p
}

// sent is the part of a page that timing tests compare.
type sent struct {
	At    string
	Kind  PageKind
	Loop  int
	Level int
}

func summarise(pages []Page) []sent {
	out := []sent{}
	for _, p := range pages {
		out = append(out, sent{At: offset(p.Due.Sub(t0)), Kind: p.Kind, Loop: p.Loop, Level: p.Level})
	}
	return out
}

// machine drives one incident on a fake clock and keeps every page sent.
type machine struct {
	t     *testing.T
	p     *Policy
	s     State
	pages []Page
}

func start(t *testing.T, p *Policy, fps ...string) *machine {
	s, pages := Start(p, t0, fps)
	return &machine{t: t, p: p, s: s, pages: pages}
}

// on applies e at t0+d and returns the pages it sent.
func (m *machine) on(e Event, d time.Duration) []Page {
	var pages []Page
	m.s, pages = m.s.On(e, m.p, t0.Add(d))
	m.pages = append(m.pages, pages...)
	return pages
}

// run ticks at every due time up to t0+d, as the receiver's timer does.
func (m *machine) run(d time.Duration) {
	var pages []Page
	m.s, pages = tickUntil(m.s, m.p, t0.Add(d))
	m.pages = append(m.pages, pages...)
}

func (m *machine) want(want ...sent) {
	m.t.Helper()
	if want == nil {
		want = []sent{}
	}
	if diff := cmp.Diff(want, summarise(m.pages)); diff != "" {
		m.t.Errorf("pages (-want +got):\n%s", diff)
	}
}

func (m *machine) wantNext(d time.Duration, ok bool) {
	m.t.Helper()
	next, gotOK := m.s.Next()
	if gotOK != ok || (ok && !next.Equal(t0.Add(d))) {
		m.t.Errorf("Next() = %s, %v; want %s, %v", offset(next.Sub(t0)), gotOK, offset(d), ok)
	}
}

func TestLevelsFireOnTime(t *testing.T) {
	m := start(t, loadExample(t))
	m.want(sent{"+0:00:00", PageEscalate, 1, 1})
	m.wantNext(30*time.Minute, true)

	if pages := m.on(Tick{}, 30*time.Minute-time.Second); len(pages) != 0 {
		t.Errorf("a second early, tick sent %v", summarise(pages))
	}
	m.on(Tick{}, 30*time.Minute)
	m.wantNext(time.Hour, true)
	m.on(Tick{}, time.Hour-time.Second)
	m.on(Tick{}, time.Hour)
	m.wantNext(2*time.Hour, true)
	m.on(Tick{}, 2*time.Hour)
	m.wantNext(0, false)
	m.on(Tick{}, 24*time.Hour)
	m.want(
		sent{"+0:00:00", PageEscalate, 1, 1},
		sent{"+0:30:00", PageEscalate, 1, 2},
		sent{"+1:00:00", PageEscalate, 1, 3},
		sent{"+2:00:00", PageEscalate, 1, 4},
	)
	if got := m.pages[3].Targets; !cmp.Equal(got, []Target{{User: "cto"}, {User: "vp-engineering"}}) {
		t.Errorf("level 4 targets %v", got)
	}
}

func TestDelayedFirstLevel(t *testing.T) {
	m := start(t, policy(0, 0, 5*time.Minute, 20*time.Minute))
	m.want()
	m.wantNext(5*time.Minute, true)
	m.run(time.Hour)
	m.want(sent{"+0:05:00", PageEscalate, 1, 1}, sent{"+0:20:00", PageEscalate, 1, 2})
}

func TestRepeatLoops(t *testing.T) {
	t.Run("immediate first level", func(t *testing.T) {
		// Loops last 10m + 10m: the last level waits as the first did.
		m := start(t, policy(2, 0, 0, 10*time.Minute))
		m.run(24 * time.Hour)
		m.want(
			sent{"+0:00:00", PageEscalate, 1, 1},
			sent{"+0:10:00", PageEscalate, 1, 2},
			sent{"+0:20:00", PageEscalate, 2, 1},
			sent{"+0:30:00", PageEscalate, 2, 2},
			sent{"+0:40:00", PageEscalate, 3, 1},
			sent{"+0:50:00", PageEscalate, 3, 2},
		)
		m.wantNext(0, false)
	})
	t.Run("delays count from the loop's start", func(t *testing.T) {
		p := policy(1, 0, 5*time.Minute, 15*time.Minute)
		p.LoopAfter = time.Hour
		m := start(t, p)
		m.run(24 * time.Hour)
		m.want(
			sent{"+0:05:00", PageEscalate, 1, 1},
			sent{"+0:15:00", PageEscalate, 1, 2},
			sent{"+1:05:00", PageEscalate, 2, 1},
			sent{"+1:15:00", PageEscalate, 2, 2},
		)
	})
}

func TestAckStopsEscalation(t *testing.T) {
	m := start(t, loadExample(t))
	pages := m.on(Ack{By: "alice"}, 10*time.Minute)
	want := []Page{{Level: 1, Loop: 1, Kind: PageAcknowledged, Due: t0.Add(10 * time.Minute), By: "alice"}}
	if diff := cmp.Diff(want, pages); diff != "" {
		t.Errorf("ack page (-want +got):\n%s", diff)
	}
	m.wantNext(0, false)
	if again := m.on(Ack{By: "bob"}, 11*time.Minute); len(again) != 0 || m.s.AckedBy != "alice" {
		t.Errorf("a second ack sent %v and left acked_by %q; want nothing and alice", summarise(again), m.s.AckedBy)
	}
	m.run(24 * time.Hour)
	m.want(sent{"+0:00:00", PageEscalate, 1, 1}, sent{"+0:10:00", PageAcknowledged, 1, 1})
}

func TestAckTimeoutRepages(t *testing.T) {
	t.Run("after level 1", func(t *testing.T) {
		m := start(t, policy(0, 20*time.Minute, 0, 30*time.Minute, time.Hour))
		m.on(Ack{By: "alice"}, 10*time.Minute)
		m.wantNext(30*time.Minute, true)
		m.run(24 * time.Hour)
		// Level 2 follows the re-page after level 1's 30 minutes.
		m.want(
			sent{"+0:00:00", PageEscalate, 1, 1},
			sent{"+0:10:00", PageAcknowledged, 1, 1},
			sent{"+0:30:00", PageRepage, 1, 1},
			sent{"+1:00:00", PageEscalate, 1, 2},
			sent{"+1:30:00", PageEscalate, 1, 3},
		)
		if m.s.Acked() {
			t.Error("still acknowledged after the timeout")
		}
	})
	t.Run("after the last level", func(t *testing.T) {
		m := start(t, policy(0, time.Hour, 0, 30*time.Minute))
		m.run(45 * time.Minute)
		m.on(Ack{By: "bob"}, 45*time.Minute)
		m.run(24 * time.Hour)
		m.want(
			sent{"+0:00:00", PageEscalate, 1, 1},
			sent{"+0:30:00", PageEscalate, 1, 2},
			sent{"+0:45:00", PageAcknowledged, 1, 2},
			sent{"+1:45:00", PageRepage, 1, 2},
		)
		m.wantNext(0, false)
	})
	t.Run("acknowledged again", func(t *testing.T) {
		m := start(t, policy(0, 20*time.Minute, 0, 30*time.Minute))
		m.on(Ack{By: "alice"}, 5*time.Minute)
		m.run(25 * time.Minute)
		m.on(Ack{By: "alice"}, 26*time.Minute)
		m.wantNext(46*time.Minute, true)
		m.on(Resolve{}, 40*time.Minute)
		m.run(24 * time.Hour)
		m.want(
			sent{"+0:00:00", PageEscalate, 1, 1},
			sent{"+0:05:00", PageAcknowledged, 1, 1},
			sent{"+0:25:00", PageRepage, 1, 1},
			sent{"+0:26:00", PageAcknowledged, 1, 1},
		)
	})
}

func TestUnackRepages(t *testing.T) {
	m := start(t, policy(0, 0, 0, 30*time.Minute))
	if pages := m.on(Unack{By: "alice"}, time.Minute); len(pages) != 0 {
		t.Errorf("unack of an unacknowledged incident sent %v", summarise(pages))
	}
	m.on(Ack{By: "alice"}, 10*time.Minute)
	m.on(Unack{By: "alice"}, 50*time.Minute)
	m.run(24 * time.Hour)
	m.want(
		sent{"+0:00:00", PageEscalate, 1, 1},
		sent{"+0:10:00", PageAcknowledged, 1, 1},
		sent{"+0:50:00", PageRepage, 1, 1},
		sent{"+1:20:00", PageEscalate, 1, 2},
	)
}

func TestNewAlertsInAckedGroupPageAgain(t *testing.T) {
	m := start(t, policy(0, 0, 0, 30*time.Minute, time.Hour), "a")
	m.run(40 * time.Minute)
	m.on(Ack{By: "bob"}, 40*time.Minute)
	pages := m.on(Alerts{Fingerprints: []string{"a", "c", "b"}, Reason: "new alerts added"}, 50*time.Minute)
	want := []Page{{Level: 2, Loop: 1, Kind: PageNewAlerts, Due: t0.Add(50 * time.Minute),
		Targets: []Target{{User: "l2"}}, Fingerprints: []string{"b", "c"}}}
	if diff := cmp.Diff(want, pages); diff != "" {
		t.Errorf("new-alerts page (-want +got):\n%s", diff)
	}
	if m.s.Acked() {
		t.Error("still acknowledged after new alerts joined")
	}
	// The same alerts again page nobody; escalation goes on from level 2.
	m.on(Alerts{Fingerprints: []string{"a", "b", "c"}, Reason: "some alerts resolved"}, 55*time.Minute)
	m.run(24 * time.Hour)
	m.want(
		sent{"+0:00:00", PageEscalate, 1, 1},
		sent{"+0:30:00", PageEscalate, 1, 2},
		sent{"+0:40:00", PageAcknowledged, 1, 2},
		sent{"+0:50:00", PageNewAlerts, 1, 2},
		sent{"+1:20:00", PageEscalate, 1, 3},
	)
	if diff := cmp.Diff([]string{"a", "b", "c"}, m.s.Fingerprints); diff != "" {
		t.Errorf("fingerprints (-want +got):\n%s", diff)
	}
}

func TestRepeatNotificationsNeverPage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		acked bool
		e     Alerts
	}{
		{"acked, repeat interval with a new fingerprint", true, Alerts{Fingerprints: []string{"a", "z"}, Reason: ReasonRepeat}},
		{"acked, known fingerprints", true, Alerts{Fingerprints: []string{"a"}, Reason: "new alerts added"}},
		{"acked, no reason, known fingerprints", true, Alerts{Fingerprints: []string{"a"}}},
		{"escalating, new fingerprint", false, Alerts{Fingerprints: []string{"a", "z"}, Reason: "new alerts added"}},
		{"escalating, repeat interval", false, Alerts{Fingerprints: []string{"a"}, Reason: ReasonRepeat}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := start(t, policy(0, time.Hour, 0, 30*time.Minute), "a")
			if tc.acked {
				m.on(Ack{By: "alice"}, 5*time.Minute)
			}
			before := m.s
			if pages := m.on(tc.e, 10*time.Minute); len(pages) != 0 {
				t.Errorf("sent %v", summarise(pages))
			}
			if !m.s.Refreshed.Equal(t0.Add(10*time.Minute)) || m.s.Acked() != tc.acked || !m.s.NextAt.Equal(before.NextAt) {
				t.Errorf("state after the notification: refreshed %s, acked %v, next %s; want refreshed +0:10:00, acked %v, next %s",
					offset(m.s.Refreshed.Sub(t0)), m.s.Acked(), offset(m.s.NextAt.Sub(t0)), tc.acked, offset(before.NextAt.Sub(t0)))
			}
		})
	}
}

func TestResolveStopsEverything(t *testing.T) {
	m := start(t, policy(3, time.Hour, 0, 30*time.Minute, time.Hour), "a")
	m.run(45 * time.Minute)
	m.on(Resolve{}, 45*time.Minute)
	m.wantNext(0, false)
	m.on(Ack{By: "alice"}, 50*time.Minute)
	m.on(Unack{}, 51*time.Minute)
	m.on(Alerts{Fingerprints: []string{"b"}}, 52*time.Minute)
	m.on(Tick{}, 24*time.Hour)
	m.want(sent{"+0:00:00", PageEscalate, 1, 1}, sent{"+0:30:00", PageEscalate, 1, 2})
	if !m.s.Resolved || !m.s.ResolvedAt.Equal(t0.Add(45*time.Minute)) {
		t.Errorf("resolved %v at %s, want at +0:45:00", m.s.Resolved, offset(m.s.ResolvedAt.Sub(t0)))
	}
}

// TestRestart stores the state as the receiver does, loses the process,
// and ticks the restored state late: the pages missed while down are sent
// once each, with their due times, and nothing already sent is sent again.
func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       *Policy
		before  func(m *machine)
		upAgain time.Duration
		want    []sent
	}{
		{"mid-escalation", loadExample(t), func(m *machine) { m.run(35 * time.Minute) }, 150 * time.Minute, []sent{
			{"+1:00:00", PageEscalate, 1, 3},
			{"+2:00:00", PageEscalate, 1, 4},
		}},
		{"across loops", policy(1, 0, 0, 10*time.Minute), func(m *machine) { m.run(5 * time.Minute) }, 24 * time.Hour, []sent{
			{"+0:10:00", PageEscalate, 1, 2},
			{"+0:20:00", PageEscalate, 2, 1},
			{"+0:30:00", PageEscalate, 2, 2},
		}},
		{"during an ack timeout", policy(0, 20*time.Minute, 0, 30*time.Minute), func(m *machine) {
			m.on(Ack{By: "alice"}, 5*time.Minute)
		}, 2 * time.Hour, []sent{
			{"+0:25:00", PageRepage, 1, 1},
			{"+0:55:00", PageEscalate, 1, 2},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := start(t, tc.p)
			tc.before(m)
			stored, err := json.Marshal(m.s)
			if err != nil {
				t.Fatal(err)
			}
			var restored State
			if err := json.Unmarshal(stored, &restored); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(m.s, restored); diff != "" {
				t.Fatalf("state changed through JSON (-stored +restored):\n%s", diff)
			}
			after, pages := restored.On(Tick{}, tc.p, t0.Add(tc.upAgain))
			if diff := cmp.Diff(tc.want, summarise(pages)); diff != "" {
				t.Errorf("pages after the restart (-want +got):\n%s", diff)
			}
			if _, again := after.On(Tick{}, tc.p, t0.Add(tc.upAgain)); len(again) != 0 {
				t.Errorf("a second tick sent %v", summarise(again))
			}
		})
	}
}

func TestTickIsIdempotent(t *testing.T) {
	p := loadExample(t)
	s, _ := Start(p, t0, []string{"a"})
	early, pages := s.On(Tick{}, p, t0.Add(10*time.Minute))
	if len(pages) != 0 {
		t.Errorf("an early tick sent %v", summarise(pages))
	}
	if diff := cmp.Diff(s, early); diff != "" {
		t.Errorf("an early tick changed the state (-before +after):\n%s", diff)
	}
	once, first := s.On(Tick{}, p, t0.Add(30*time.Minute))
	twice, second := once.On(Tick{}, p, t0.Add(30*time.Minute))
	if len(first) != 1 || len(second) != 0 {
		t.Errorf("two ticks at +0:30:00 sent %v then %v; want one page then none", summarise(first), summarise(second))
	}
	if diff := cmp.Diff(once, twice); diff != "" {
		t.Errorf("a repeated tick changed the state (-first +second):\n%s", diff)
	}
	// On works on a copy: the state it was called on is unchanged, so a
	// receiver that failed to store the result can call it again.
	_, retried := s.On(Tick{}, p, t0.Add(30*time.Minute))
	if diff := cmp.Diff(summarise(first), summarise(retried)); diff != "" {
		t.Errorf("retrying from the stored state (-first +retry):\n%s", diff)
	}
}

func TestDaylightSavingCountsElapsedTime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	p := policy(0, 0, 0, 30*time.Minute, 90*time.Minute)
	for _, tc := range []struct {
		name  string
		start time.Time
		want  []string
	}{
		// 2026-03-08 02:00 EST springs forward to 03:00 EDT.
		{"spring forward", time.Date(2026, 3, 8, 1, 45, 0, 0, ny), []string{"01:45 EST", "03:15 EDT", "04:15 EDT"}},
		// 2026-11-01 02:00 EDT falls back to 01:00 EST.
		{"fall back", time.Date(2026, 11, 1, 1, 45, 0, 0, ny), []string{"01:45 EDT", "01:15 EST", "02:15 EST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pages := Simulate(p, nil, nil, tc.start, nil, tc.start.Add(24*time.Hour))
			var got []string
			for _, pg := range pages {
				got = append(got, pg.Due.In(ny).Format("15:04 MST"))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("local due times (-want +got):\n%s", diff)
			}
			if d := pages[1].Due.Sub(tc.start); d != 30*time.Minute {
				t.Errorf("level 2 came %s after the start, want 30m0s", d)
			}
		})
	}
}

func TestPolicyShrinksUnderAnIncident(t *testing.T) {
	long := policy(0, 0, 0, 10*time.Minute, 20*time.Minute)
	s, _ := Start(long, t0, nil)
	s, _ = s.On(Tick{}, long, t0.Add(20*time.Minute))
	short := policy(0, time.Hour, 0)
	s, pages := s.On(Tick{}, short, t0.Add(time.Hour))
	if len(pages) != 0 {
		t.Errorf("tick under the shorter policy sent %v", summarise(pages))
	}
	s, _ = s.On(Ack{By: "alice"}, short, t0.Add(time.Hour))
	_, pages = s.On(Tick{}, short, t0.Add(2*time.Hour))
	if diff := cmp.Diff([]sent{{"+2:00:00", PageRepage, 1, 1}}, summarise(pages)); diff != "" {
		t.Errorf("re-page under the shorter policy (-want +got):\n%s", diff)
	}
}

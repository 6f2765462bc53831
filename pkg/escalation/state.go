package escalation

import (
	"slices"
	"time"
)

// ReasonRepeat is Alertmanager's notification_reason for a notification
// sent only because the group's repeat_interval elapsed: nothing changed.
const ReasonRepeat = "repeat interval elapsed"

// State is one incident's escalation: an alert group of one route, from
// its first firing notification to its resolution. It is a value that the
// receiver stores as JSON; On returns the next one.
type State struct {
	// Policy is the name of the policy the incident follows.
	Policy string `json:"policy"`
	// Started is when the incident started.
	Started time.Time `json:"started"`
	// LoopStart is the time the current loop's level delays count from.
	// It moves when a re-page resumes escalation, so that the next level
	// keeps its distance from the re-paged one.
	LoopStart time.Time `json:"loop_start"`
	// Loop is the current run through the levels, from 1.
	Loop int `json:"loop"`
	// Level is how many levels of the current loop have been paged.
	Level int `json:"level"`
	// NextAt is when On must next be called with Tick; zero when nothing
	// is scheduled.
	NextAt time.Time `json:"next_at,omitzero"`

	// AckedBy is who acknowledged; empty when not acknowledged.
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
	// AckExpires is when an acknowledged incident is paged again; zero
	// when the policy has no ack_timeout.
	AckExpires time.Time `json:"ack_expires,omitzero"`

	Resolved   bool      `json:"resolved,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`

	// Fingerprints are the alerts seen so far, sorted.
	Fingerprints []string `json:"fingerprints,omitempty"`
	// Refreshed is when Alertmanager last notified about the group.
	Refreshed time.Time `json:"refreshed"`
}

// Event is something that happens to an incident: Tick, Ack, Unack, Alerts
// or Resolve.
type Event interface{ event() }

// Tick says that time has passed: every page due by now is sent.
type Tick struct{}

// Ack is an acknowledgement by By ("someone" when empty): escalation
// stops.
type Ack struct{ By string }

// Unack takes an acknowledgement back: the current level is paged again
// and escalation resumes.
type Unack struct{ By string }

// Alerts is Alertmanager notifying about the firing group again.
type Alerts struct {
	// Fingerprints are the firing alerts.
	Fingerprints []string
	// Reason is the payload's notification_reason.
	Reason string
}

// Resolve ends the incident: Alertmanager resolved every alert.
type Resolve struct{}

func (Tick) event()    {}
func (Ack) event()     {}
func (Unack) event()   {}
func (Alerts) event()  {}
func (Resolve) event() {}

// Start opens an incident at now with the firing alerts' fingerprints.
// Level 1 is paged at once when its delay is 0.
func Start(p *Policy, now time.Time, fingerprints []string) (State, []Page) {
	s := State{
		Policy:    p.Name,
		Started:   now,
		LoopStart: now,
		Loop:      1,
		Refreshed: now,
	}
	s.addFingerprints(fingerprints)
	return s.On(Tick{}, p, now)
}

// Next returns when On must be called with Tick, and false when no page
// is scheduled. Calling it later is fine: the pages due meanwhile are sent
// then, once each.
func (s State) Next() (time.Time, bool) {
	return s.NextAt, !s.NextAt.IsZero()
}

// Acked reports whether the incident is acknowledged.
func (s State) Acked() bool { return s.AckedBy != "" }

// On applies event at now under policy p and returns the new state and the
// pages to send. It does not change s, so a caller that fails to store the
// result can call it again. After Resolve every event is ignored.
func (s State) On(event Event, p *Policy, now time.Time) (State, []Page) {
	if s.Resolved {
		return s, nil
	}
	s.Fingerprints = slices.Clone(s.Fingerprints)
	var pages []Page
	switch e := event.(type) {
	case Tick:
		pages = s.tick(p, now)
	case Ack:
		pages = s.ack(p, e.By, now)
	case Unack:
		pages = s.unack(p, now)
	case Alerts:
		pages = s.alerts(p, e, now)
	case Resolve:
		s.Resolved, s.ResolvedAt = true, now
	}
	s.NextAt, _ = s.due(p)
	return s, pages
}

// tick sends every page due by now, in order.
func (s *State) tick(p *Policy, now time.Time) []Page {
	var pages []Page
	for {
		at, ok := s.due(p)
		if !ok || at.After(now) {
			return pages
		}
		if s.Acked() {
			pages = append(pages, s.repage(p, PageRepage, at))
			continue
		}
		pages = append(pages, s.escalate(p, at))
	}
}

// due is when the next page falls due, if any.
func (s *State) due(p *Policy) (time.Time, bool) {
	switch {
	case s.Resolved || len(p.Levels) == 0:
		return time.Time{}, false
	case s.Acked():
		return s.AckExpires, !s.AckExpires.IsZero()
	case s.Level < len(p.Levels):
		return s.LoopStart.Add(p.Levels[s.Level].Delay), true
	case s.Loop <= p.Repeat:
		return s.LoopStart.Add(p.loopLength() + p.Levels[0].Delay), true
	}
	return time.Time{}, false
}

// escalate pages the next level, starting a new loop after the last.
func (s *State) escalate(p *Policy, at time.Time) Page {
	if s.Level >= len(p.Levels) {
		s.LoopStart = s.LoopStart.Add(p.loopLength())
		s.Loop++
		s.Level = 0
	}
	s.Level++
	return s.page(p, PageEscalate, at)
}

// repage pages the current level again, or level 1 when none was paged,
// drops any acknowledgement and resumes escalation from there: the next
// level follows after the same wait as it would have originally.
func (s *State) repage(p *Policy, kind PageKind, at time.Time) Page {
	s.AckedBy, s.AckedAt, s.AckExpires = "", time.Time{}, time.Time{}
	s.Level = min(max(s.Level, 1), len(p.Levels))
	s.LoopStart = at.Add(-p.Levels[s.Level-1].Delay)
	return s.page(p, kind, at)
}

func (s *State) page(p *Policy, kind PageKind, at time.Time) Page {
	return Page{
		Level:    s.Level,
		Loop:     s.Loop,
		Kind:     kind,
		Targets:  slices.Clone(p.Levels[s.Level-1].Targets),
		Fallback: p.Fallback,
		Due:      at,
	}
}

// ack stops escalation. A second acknowledgement changes nothing.
func (s *State) ack(p *Policy, by string, now time.Time) []Page {
	if s.Acked() {
		return nil
	}
	if by == "" {
		by = "someone"
	}
	s.AckedBy, s.AckedAt = by, now
	if p.AckTimeout > 0 {
		s.AckExpires = now.Add(p.AckTimeout)
	}
	return []Page{{Level: s.Level, Loop: s.Loop, Kind: PageAcknowledged, Due: now, By: by}}
}

func (s *State) unack(p *Policy, now time.Time) []Page {
	if !s.Acked() || len(p.Levels) == 0 {
		return nil
	}
	return []Page{s.repage(p, PageRepage, now)}
}

// alerts refreshes the incident. Alerts never seen before page the current
// level again if the incident is acknowledged, unless Alertmanager only
// repeats itself.
func (s *State) alerts(p *Policy, e Alerts, now time.Time) []Page {
	s.Refreshed = now
	fresh := s.addFingerprints(e.Fingerprints)
	if len(fresh) == 0 || e.Reason == ReasonRepeat || !s.Acked() || len(p.Levels) == 0 {
		return nil
	}
	page := s.repage(p, PageNewAlerts, now)
	page.Fingerprints = fresh
	return []Page{page}
}

// addFingerprints records fps and returns those not seen before, sorted.
func (s *State) addFingerprints(fps []string) []string {
	var fresh []string
	for _, fp := range fps {
		if _, found := slices.BinarySearch(s.Fingerprints, fp); found || fp == "" {
			continue
		}
		s.Fingerprints = append(s.Fingerprints, fp)
		slices.Sort(s.Fingerprints)
		fresh = append(fresh, fp)
	}
	slices.Sort(fresh)
	return fresh
}

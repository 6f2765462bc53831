package fakeapi

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rule is how an upstream counts requests against its limit of n per
// period.
type Rule int

const (
	// Sliding admits at most n requests of a key in any period, as
	// PagerDuty and Opsgenie do.
	Sliding Rule = iota
	// Fixed gives a key n requests per window; a window opens at the
	// first request after the last one closed, as Discord's buckets do.
	Fixed
	// Bucket is a token bucket per key: n requests at once, refilled at
	// one every period/n, as Slack's "about one a second with bursts".
	Bucket
)

// Verdict is a rate limit's answer to one request.
type Verdict struct {
	// On reports whether a limit applies; without one every request is
	// OK and the rest is zero.
	On bool
	// OK reports whether the request is admitted.
	OK bool
	// At is when the request was counted, by the limit's clock.
	At time.Time
	// Limit is n; Remaining, Reset and Wait are for Fixed and Bucket:
	// how many requests the window has left, when it closes, and how
	// long until a refused request would be admitted.
	Limit     int
	Remaining int
	Reset     time.Time
	Wait      time.Duration
}

// RateLimit holds a fake's rate limit of n requests per period and key,
// counted by its rule on a clock that tests can replace. It is safe for
// concurrent use.
type RateLimit struct {
	rule Rule

	mu       sync.Mutex
	n        int
	per      time.Duration
	now      func() time.Time
	counters map[string]counter
}

// NewRateLimit returns a limit of n requests per period, counted by rule
// on the wall clock.
func NewRateLimit(rule Rule, n int, per time.Duration) *RateLimit {
	return &RateLimit{rule: rule, n: n, per: per, now: time.Now, counters: map[string]counter{}}
}

// SetRateLimit replaces the limit with n requests per period and forgets
// the requests counted so far. A period of 0 turns the limit off; n of 0
// refuses every request.
func (l *RateLimit) SetRateLimit(n int, per time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n, l.per = n, per
	clear(l.counters)
}

// SetClock replaces the clock, so that tests control time.
func (l *RateLimit) SetClock(now func() time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
}

// Now reads the limit's clock.
func (l *RateLimit) Now() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now()
}

// Admit counts one request of key and says whether the limit admits it.
// A refused request is not counted.
func (l *RateLimit) Admit(key string) Verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.per <= 0 {
		return Verdict{OK: true}
	}
	c := l.counters[key]
	if c == nil {
		c = l.rule.counter(l.n, l.per)
		l.counters[key] = c
	}
	now := l.now()
	v := c.admit(now)
	v.On, v.At, v.Limit = true, now, l.n
	return v
}

// counter counts the requests of one key.
type counter interface {
	admit(now time.Time) Verdict
}

func (r Rule) counter(n int, per time.Duration) counter {
	switch r {
	case Fixed:
		return &fixed{n: n, per: per}
	case Bucket:
		return newBucket(n, per)
	default:
		return &sliding{n: n, per: per}
	}
}

type sliding struct {
	n   int
	per time.Duration
	w   Window
}

func (s *sliding) admit(now time.Time) Verdict {
	return Verdict{OK: s.w.Admit("", s.n, s.per, now)}
}

type fixed struct {
	n         int
	per       time.Duration
	remaining int
	reset     time.Time
}

func (f *fixed) admit(now time.Time) Verdict {
	if !now.Before(f.reset) {
		f.remaining, f.reset = f.n, now.Add(f.per)
	}
	ok := f.remaining > 0
	if ok {
		f.remaining--
	}
	v := Verdict{OK: ok, Remaining: f.remaining, Reset: f.reset}
	if !ok {
		v.Wait = f.reset.Sub(now)
	}
	return v
}

type bucket struct {
	per     time.Duration
	limiter *rate.Limiter
}

func newBucket(n int, per time.Duration) *bucket {
	if n <= 0 {
		return &bucket{per: per}
	}
	return &bucket{per: per, limiter: rate.NewLimiter(rate.Every(per/time.Duration(n)), n)}
}

func (b *bucket) admit(now time.Time) Verdict {
	if b.limiter == nil {
		return Verdict{Wait: b.per}
	}
	res := b.limiter.ReserveN(now, 1)
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return Verdict{Wait: wait}
	}
	return Verdict{OK: true}
}

package fakeapi

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestQueue(t *testing.T) {
	var q Queue[string]
	q.Add(2, "a")
	q.Add(1, "b")
	var got []string
	for {
		v, ok := q.Next()
		if !ok {
			break
		}
		got = append(got, v)
	}
	if diff := cmp.Diff([]string{"a", "a", "b"}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestWindow(t *testing.T) {
	var w Window
	t0 := time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)
	var got []bool
	for _, step := range []struct {
		key string
		at  time.Duration
	}{{"a", 0}, {"a", time.Second}, {"a", 2 * time.Second}, {"b", 2 * time.Second}, {"a", 60 * time.Second}, {"a", 61 * time.Second}, {"a", 61 * time.Second}} {
		got = append(got, w.Admit(step.key, 2, time.Minute, t0.Add(step.at)))
	}
	// Two per minute and key; a refused request does not count, and the
	// first request leaves the window after 60 s, the second after 61 s.
	want := []bool{true, true, false, true, true, true, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("admitted (-want +got):\n%s", diff)
	}
}

func TestRateLimit(t *testing.T) {
	t0 := time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)
	type step struct {
		key string
		at  time.Duration
	}
	steps := []step{{"a", 0}, {"a", time.Second}, {"a", 2 * time.Second}, {"b", 2 * time.Second},
		{"a", 60 * time.Second}, {"a", 60500 * time.Millisecond}, {"a", 91 * time.Second}}
	for _, tc := range []struct {
		rule Rule
		want []bool
	}{
		// At most two in any minute: the first request leaves the window
		// at 60 s, the second at 61 s.
		{Sliding, []bool{true, true, false, true, true, false, true}},
		// Two per window; the second window opens at 60 s and closes at
		// 120 s.
		{Fixed, []bool{true, true, false, true, true, true, false}},
		// Two at once, one back every 30 s: full again by 60 s, and one
		// more by 91 s.
		{Bucket, []bool{true, true, false, true, true, true, true}},
	} {
		now := t0
		l := NewRateLimit(tc.rule, 2, time.Minute)
		l.SetClock(func() time.Time { return now })
		var got []bool
		for _, s := range steps {
			now = t0.Add(s.at)
			got = append(got, l.Admit(s.key).OK)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("rule %d: admitted (-want +got):\n%s", tc.rule, diff)
		}
	}
}

func TestRateLimitVerdict(t *testing.T) {
	t0 := time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)
	l := NewRateLimit(Fixed, 1, 2*time.Second)
	l.SetClock(func() time.Time { return t0 })
	got := []Verdict{l.Admit("a"), l.Admit("a")}
	want := []Verdict{
		{On: true, OK: true, At: t0, Limit: 1, Remaining: 0, Reset: t0.Add(2 * time.Second)},
		{On: true, At: t0, Limit: 1, Reset: t0.Add(2 * time.Second), Wait: 2 * time.Second},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	l.SetRateLimit(0, 0)
	if v := l.Admit("a"); v != (Verdict{OK: true}) {
		t.Errorf("a period of 0: %+v, want no limit", v)
	}
	for _, rule := range []Rule{Sliding, Fixed, Bucket} {
		l := NewRateLimit(rule, 0, time.Minute)
		if v := l.Admit("a"); v.OK || !v.On {
			t.Errorf("rule %d, n of 0: %+v, want a refusal", rule, v)
		}
	}
}

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

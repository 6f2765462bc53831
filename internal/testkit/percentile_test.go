package testkit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const ms = time.Millisecond

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{[]time.Duration{7 * ms}, 50, 7 * time.Millisecond},
		{[]time.Duration{7 * ms}, 90, 7 * time.Millisecond},
		{[]time.Duration{3 * ms, 1 * ms, 2 * ms}, 50, 2 * time.Millisecond},
		{[]time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms}, 50, 2500 * time.Microsecond},
		{[]time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms}, 90, 3700 * time.Microsecond},
		{[]time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms}, 0, 1 * time.Millisecond},
		{[]time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms}, 100, 4 * time.Millisecond},
		{[]time.Duration{10 * ms, 20 * ms, 30 * ms, 40 * ms, 50 * ms, 60 * ms, 70 * ms, 80 * ms, 90 * ms, 100 * ms}, 90, 91 * time.Millisecond},
	} {
		if got := Percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
}

func TestPercentileLeavesInputAlone(t *testing.T) {
	in := []time.Duration{3 * ms, 1 * ms, 2 * ms}
	Percentile(in, 50)
	if diff := cmp.Diff([]time.Duration{3 * ms, 1 * ms, 2 * ms}, in); diff != "" {
		t.Errorf("input changed (-want +got):\n%s", diff)
	}
}

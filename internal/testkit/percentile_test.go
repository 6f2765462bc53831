package testkit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 90, 7 * time.Millisecond},
		{ms(3, 1, 2), 50, 2 * time.Millisecond},
		{ms(4, 1, 3, 2), 50, 2500 * time.Microsecond},
		{ms(4, 1, 3, 2), 90, 3700 * time.Microsecond},
		{ms(4, 1, 3, 2), 0, 1 * time.Millisecond},
		{ms(4, 1, 3, 2), 100, 4 * time.Millisecond},
		{ms(10, 20, 30, 40, 50, 60, 70, 80, 90, 100), 90, 91 * time.Millisecond},
	} {
		if got := Percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
}

func TestPercentileLeavesInputAlone(t *testing.T) {
	in := ms(3, 1, 2)
	Percentile(in, 50)
	if diff := cmp.Diff(ms(3, 1, 2), in); diff != "" {
		t.Errorf("input changed (-want +got):\n%s", diff)
	}
}

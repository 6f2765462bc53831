package benchcmp

import (
	"context"
	"fmt"
	"os"
	"time"
)

// FsyncProbe says what the disk under the store costs a commit, to read
// the receiver's acknowledgement latency against: it writes Size bytes
// and fsyncs them, N times at Rate a second, into a file that grows to
// Wrap bytes and is then overwritten from its start, as SQLite's WAL is
// between checkpoints.
type FsyncProbe struct {
	Size, Wrap int64
	N          int
	Rate       float64
}

// DefaultFsyncProbe is about what one commit of the acknowledgement phase
// writes: a notification's 6 kB payload and its rows, as WAL frames of
// 4 KiB pages.
var DefaultFsyncProbe = FsyncProbe{Size: 32 << 10, Wrap: 4 << 20, N: 1000, Rate: GoalAckRate}

// Run probes a file in dir and returns how long each fsync took.
func (p FsyncProbe) Run(ctx context.Context, dir string) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return nil, fmt.Errorf("fsync probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, p.Size)
	out := make([]time.Duration, 0, p.N)
	var off int64
	start := time.Now()
	for i := range p.N {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		time.Sleep(time.Until(start.Add(time.Duration(float64(i) / p.Rate * float64(time.Second)))))
		if off+p.Size > p.Wrap {
			off = 0
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			return out, fmt.Errorf("fsync probe: %w", err)
		}
		off += p.Size
		t := time.Now()
		if err := f.Sync(); err != nil {
			return out, fmt.Errorf("fsync probe: %w", err)
		}
		out = append(out, time.Since(t))
	}
	return out, nil
}

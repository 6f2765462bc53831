package benchcmp

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat. Linux reports
// them in USER_HZ, which is 100 on every architecture Go supports.
const userHZ = 100

// Usage is a process's resource use as the kernel accounts it.
type Usage struct {
	// CPU is the user plus system time the process has used so far.
	CPU time.Duration
	// PeakRSS is the largest resident set the process has had, in bytes.
	PeakRSS int64
}

// ReadUsage reads the usage of process pid from /proc.
func ReadUsage(pid int) (Usage, error) {
	return readUsage(filepath.Join("/proc", strconv.Itoa(pid)))
}

// readUsage reads the stat and status files of a /proc/<pid> directory.
func readUsage(dir string) (Usage, error) {
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Usage{}, err
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return Usage{}, err
	}
	cpu, err := ParseStat(stat)
	if err != nil {
		return Usage{}, err
	}
	rss, err := ParseStatus(status)
	if err != nil {
		return Usage{}, err
	}
	return Usage{CPU: cpu, PeakRSS: rss}, nil
}

// ParseStat returns utime + stime from the contents of /proc/<pid>/stat.
// The command name, in parentheses, may itself hold spaces and parentheses,
// so fields are counted from the last ')'.
func ParseStat(data []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("stat: no command name in %q", data)
	}
	// After the name come the fields numbered from 3 (state) in proc(5);
	// utime and stime are fields 14 and 15.
	fields := bytes.Fields(data[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least %d", len(fields), stime+1)
	}
	var ticks int64
	for _, f := range [][]byte{fields[utime], fields[stime]} {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// ParseStatus returns VmHWM, the peak resident set size, in bytes, from the
// contents of /proc/<pid>/status.
func ParseStatus(data []byte) (int64, error) {
	for line := range bytes.Lines(data) {
		value, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(value)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("status: malformed VmHWM line %q", line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("status: no VmHWM line")
}

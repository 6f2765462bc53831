package hostmetrics

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/disk"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

var fsLabels = []string{"device", "mountpoint", "fstype"}

func fsDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(collector.Namespace, "host", "filesystem_"+name), help, fsLabels, nil)
}

var (
	fsSizeDesc      = fsDesc("size_bytes", "Filesystem size, from statfs(2).")
	fsAvailDesc     = fsDesc("avail_bytes", "Space available to unprivileged users, from statfs(2).")
	fsFreeDesc      = fsDesc("free_bytes", "Free space, including blocks reserved for root, from statfs(2).")
	fsFilesDesc     = fsDesc("files", "Inodes in the filesystem, from statfs(2).")
	fsFilesFreeDesc = fsDesc("files_free", "Free inodes, from statfs(2).")
	fsReadonlyDesc  = fsDesc("readonly", "1 if the filesystem is mounted read-only, from mountinfo.")
	fsErrorDesc     = fsDesc("device_error", "1 if statfs failed on the mount point or is still stuck since an earlier scrape, 0 otherwise.")
)

func init() {
	collector.Register("filesystem", true, func(logger *slog.Logger) (collector.Collector, error) {
		return newFilesystemCollector(flagOptions, logger)
	})
}

// statfsFunc returns the usage of the filesystem mounted at path. It may
// block for ever on a hung network mount.
type statfsFunc func(ctx context.Context, path string) (*disk.UsageStat, error)

type filesystemCollector struct {
	paths              paths
	mountPointsExclude *regexp.Regexp
	fsTypesExclude     *regexp.Regexp
	logger             *slog.Logger
	statfs             statfsFunc

	// unstuck, when set, is called after a stuck statfs returned and its
	// mount point is collected again. Tests use it to wait for that moment.
	unstuck func(path string)

	mu sync.Mutex
	// stuck maps the path of each mount point whose statfs outlived its
	// scrape to the result channel of that call.
	stuck map[string]chan statResult
}

func newFilesystemCollector(o options, logger *slog.Logger) (*filesystemCollector, error) {
	mounts, err := compileExclude("collector.filesystem.mount-points-exclude", o.mountPointsExclude)
	if err != nil {
		return nil, err
	}
	types, err := compileExclude("collector.filesystem.fs-types-exclude", o.fsTypesExclude)
	if err != nil {
		return nil, err
	}
	return &filesystemCollector{
		paths:              newPaths(o),
		mountPointsExclude: mounts,
		fsTypesExclude:     types,
		logger:             logger,
		statfs:             disk.UsageWithContext,
		stuck:              map[string]chan statResult{},
	}, nil
}

// mount is one mount point to report.
type mount struct {
	labels   []string // device, mount point as seen on the host, fstype
	statPath string   // where the exporter sees it
	readonly bool
}

type statResult struct {
	usage *disk.UsageStat
	err   error
}

// statCall is a statfs running in its own goroutine.
type statCall struct {
	mount mount
	res   chan statResult
}

// Update lists the mount points, then runs statfs on each concurrently,
// waiting no longer than ctx allows. A statfs still running when ctx ends is
// left to finish on its own; until it does, later scrapes skip its mount
// point and report klaxon_host_filesystem_device_error 1 for it.
func (c *filesystemCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	parts, err := disk.PartitionsWithContext(c.paths.context(ctx), true)
	if err != nil {
		return fmt.Errorf("couldn't list mount points: %w", noData(err))
	}
	var calls []statCall
	for _, m := range c.mounts(parts) {
		if c.isStuck(m.statPath) {
			c.logger.Debug("skipping mount point, statfs still stuck", "mountpoint", m.labels[1])
			ch <- prometheus.MustNewConstMetric(fsErrorDesc, prometheus.GaugeValue, 1, m.labels...)
			continue
		}
		calls = append(calls, c.start(ctx, m))
	}
	return c.await(ctx, ch, calls)
}

// mounts applies the exclusions and the root filesystem path to the
// mount table. Of several mounts on one mount point only the last, the one
// statfs sees, is kept.
func (c *filesystemCollector) mounts(parts []disk.PartitionStat) []mount {
	inRoot := c.paths.root != "/" && slices.ContainsFunc(parts, func(p disk.PartitionStat) bool {
		_, ok := c.paths.underRoot(p.Mountpoint)
		return ok
	})
	index := make(map[string]int, len(parts))
	out := make([]mount, 0, len(parts))
	for _, p := range parts {
		m, ok := c.mount(p, inRoot)
		if !ok {
			continue
		}
		if i, seen := index[m.labels[1]]; seen {
			out[i] = m
			continue
		}
		index[m.labels[1]] = len(out)
		out = append(out, m)
	}
	return out
}

// mount turns one mount table entry into a mount, or reports false if it is
// excluded. With inRoot, the table is the exporter's own and lists the host's
// mounts under the root filesystem path; otherwise it is the host's and its
// mount points are reached through the root filesystem path.
func (c *filesystemCollector) mount(p disk.PartitionStat, inRoot bool) (mount, bool) {
	mountPoint, statPath := p.Mountpoint, p.Mountpoint
	if inRoot {
		var ok bool
		if mountPoint, ok = c.paths.underRoot(p.Mountpoint); !ok {
			return mount{}, false
		}
	} else if c.paths.root != "/" {
		statPath = filepath.Join(c.paths.root, p.Mountpoint)
	}
	if excluded(c.mountPointsExclude, mountPoint) || excluded(c.fsTypesExclude, p.Fstype) {
		return mount{}, false
	}
	return mount{
		labels:   []string{p.Device, mountPoint, p.Fstype},
		statPath: statPath,
		readonly: slices.Contains(p.Opts, "ro"),
	}, true
}

func (c *filesystemCollector) isStuck(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.stuck[path]
	return ok
}

// start runs statfs on m in a goroutine that outlives ctx if statfs hangs.
func (c *filesystemCollector) start(ctx context.Context, m mount) statCall {
	call := statCall{mount: m, res: make(chan statResult, 1)}
	go func() {
		usage, err := c.statfs(ctx, m.statPath)
		call.res <- statResult{usage: usage, err: err}
		c.finish(call)
	}()
	return call
}

// finish forgets call's mount point as stuck, if its scrape gave up on it.
func (c *filesystemCollector) finish(call statCall) {
	c.mu.Lock()
	wasStuck := c.stuck[call.mount.statPath] == call.res
	if wasStuck {
		delete(c.stuck, call.mount.statPath)
	}
	c.mu.Unlock()
	if !wasStuck {
		return
	}
	c.logger.Info("statfs returned, collecting mount point again", "mountpoint", call.mount.labels[1])
	if c.unstuck != nil {
		c.unstuck(call.mount.statPath)
	}
}

// abandon records call as stuck, unless it has just returned, in which case
// its result is returned instead.
func (c *filesystemCollector) abandon(call statCall) (statResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case r := <-call.res:
		return r, true
	default:
		c.stuck[call.mount.statPath] = call.res
		return statResult{}, false
	}
}

// await sends the metrics of each call as it returns. When ctx ends, the
// calls still running are abandoned and reported as an error.
func (c *filesystemCollector) await(ctx context.Context, ch chan<- prometheus.Metric, calls []statCall) error {
	var stuck []string
	for _, call := range calls {
		var r statResult
		select {
		case r = <-call.res:
		case <-ctx.Done():
			var ok bool
			if r, ok = c.abandon(call); !ok {
				c.logger.Warn("statfs did not return in time, skipping mount point until it does",
					"mountpoint", call.mount.labels[1])
				stuck = append(stuck, call.mount.labels[1])
				continue
			}
		}
		c.send(ch, call.mount, r)
	}
	if len(stuck) > 0 {
		return fmt.Errorf("statfs stuck on %q: %w", stuck, context.Cause(ctx))
	}
	return nil
}

func (c *filesystemCollector) send(ch chan<- prometheus.Metric, m mount, r statResult) {
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, m.labels...)
	}
	if r.err != nil {
		c.logger.Debug("statfs failed", "mountpoint", m.labels[1], "err", r.err)
		gauge(fsErrorDesc, 1)
		return
	}
	u := r.usage
	gauge(fsErrorDesc, 0)
	gauge(fsSizeDesc, float64(u.Total))
	gauge(fsAvailDesc, float64(u.Free))
	gauge(fsFreeDesc, float64(u.Total-min(u.Used, u.Total)))
	gauge(fsFilesDesc, float64(u.InodesTotal))
	gauge(fsFilesFreeDesc, float64(u.InodesFree))
	gauge(fsReadonlyDesc, boolValue(m.readonly))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package hostmetrics

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/promslog"
	"github.com/shirou/gopsutil/v4/disk"
)

// fakeUsage makes up a usage that differs per mount point.
func fakeUsage(path string) *disk.UsageStat {
	n := uint64(len(path))
	return &disk.UsageStat{
		Total:       n << 30,
		Free:        n << 29, // available to unprivileged users
		Used:        n << 28,
		InodesTotal: n * 1000,
		InodesFree:  n * 400,
	}
}

func newFakeFilesystem(t *testing.T, o options, statfs statfsFunc) *filesystemCollector {
	t.Helper()
	c, err := newFilesystemCollector(o, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	c.statfs = statfs
	return c
}

func TestFilesystemGolden(t *testing.T) {
	var mu sync.Mutex
	var stated []string
	c := newFakeFilesystem(t, fixtureOptions(), func(_ context.Context, path string) (*disk.UsageStat, error) {
		mu.Lock()
		stated = append(stated, path)
		mu.Unlock()
		if strings.HasSuffix(path, "/media/My Disk") {
			return nil, errors.New("permission denied")
		}
		return fakeUsage(path), nil
	})
	metrics, err := scrape(t.Context(), c)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	assertGolden(t, metrics, "filesystem")

	// The fixture mount table is the host's: its mount points are reached
	// through the root filesystem path.
	for _, p := range stated {
		if !strings.HasPrefix(p, "testdata/root/") && p != "testdata/root" {
			t.Errorf("statfs(%q) is outside the root filesystem path", p)
		}
	}
}

func TestFilesystemMounts(t *testing.T) {
	part := func(device, mountPoint, fstype string, opts ...string) disk.PartitionStat {
		return disk.PartitionStat{Device: device, Mountpoint: mountPoint, Fstype: fstype, Opts: append([]string{"rw"}, opts...)}
	}
	ro := func(device, mountPoint, fstype string) disk.PartitionStat {
		return disk.PartitionStat{Device: device, Mountpoint: mountPoint, Fstype: fstype, Opts: []string{"ro", "relatime"}}
	}
	m := func(device, mountPoint, fstype, statPath string, readonly bool) mount {
		return mount{labels: []string{device, mountPoint, fstype}, statPath: statPath, readonly: readonly}
	}
	tests := []struct {
		name  string
		root  string
		parts []disk.PartitionStat
		want  []mount
	}{{
		name: "default exclusions keep real filesystems and tmpfs",
		root: "/",
		parts: []disk.PartitionStat{
			ro("/dev/sda1", "/", "ext4"),
			part("proc", "/proc", "proc"),
			part("sysfs", "/sys", "sysfs"),
			part("cgroup2", "/sys/fs/cgroup", "cgroup2"),
			part("udev", "/dev", "devtmpfs"),
			part("tmpfs", "/dev/shm", "tmpfs"),
			part("tmpfs", "/run", "tmpfs"),
			part("ramfs", "/run/credentials/getty.service", "ramfs"),
			part("/dev/sda2", "/var/lib/docker", "ext4"),
			part("overlay", "/var/lib/docker/overlay2/0a1b/merged", "overlay"),
			part("/dev/sda2", "/var/lib/containers/storage/overlay", "ext4"),
			part("/dev/loop0", "/snap/core/1", "squashfs"),
			part("/dev/sr0", "/media/cdrom", "iso9660"),
			part("nas:/export", "/mnt/nas", "nfs4"),
		},
		want: []mount{
			m("/dev/sda1", "/", "ext4", "/", true),
			m("tmpfs", "/run", "tmpfs", "/run", false),
			m("/dev/sda2", "/var/lib/docker", "ext4", "/var/lib/docker", false),
			m("nas:/export", "/mnt/nas", "nfs4", "/mnt/nas", false),
		},
	}, {
		name: "the last mount on a mount point wins",
		root: "/",
		parts: []disk.PartitionStat{
			part("/dev/sda1", "/srv", "ext4", "bind"),
			part("/dev/sda1", "/home", "ext4"),
			ro("tmpfs", "/srv", "tmpfs"),
		},
		want: []mount{
			m("tmpfs", "/srv", "tmpfs", "/srv", true),
			m("/dev/sda1", "/home", "ext4", "/home", false),
		},
	}, {
		name: "own mount table: only mounts under the root, made relative",
		root: "/host",
		parts: []disk.PartitionStat{
			part("overlay", "/", "overlay"),
			part("/dev/sda1", "/etc/hosts", "ext4"),
			part("/dev/sda1", "/host", "ext4"),
			part("proc", "/host/proc", "proc"),
			part("/dev/sda2", "/host/boot", "vfat"),
			part("/dev/sda3", "/hostile", "ext4"),
		},
		want: []mount{
			m("/dev/sda1", "/", "ext4", "/host", false),
			m("/dev/sda2", "/boot", "vfat", "/host/boot", false),
		},
	}, {
		name: "host mount table: stat through the root",
		root: "/host/",
		parts: []disk.PartitionStat{
			part("/dev/sda1", "/", "ext4"),
			part("/dev/sda2", "/boot", "vfat"),
		},
		want: []mount{
			m("/dev/sda1", "/", "ext4", "/host", false),
			m("/dev/sda2", "/boot", "vfat", "/host/boot", false),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultOptions()
			o.rootPath = tt.root
			c := newFakeFilesystem(t, o, nil)
			got := c.mounts(tt.parts)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(mount{})); diff != "" {
				t.Errorf("mounts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFilesystemStuckMount follows a statfs that hangs: the scrape that
// started it ends with its context, the next one skips the mount point and
// reports a device error, and once the call returns the mount point is
// collected again.
func TestFilesystemStuckMount(t *testing.T) {
	o := fixtureOptions()
	o.rootPath = "/"
	o.mountPointsExclude = `^/(run.*|srv|media/.*|mnt/iso)?$` // leaves /home and /mnt/backup
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var mu sync.Mutex
	calls := map[string]int{}
	c := newFakeFilesystem(t, o, func(_ context.Context, path string) (*disk.UsageStat, error) {
		mu.Lock()
		calls[path]++
		mu.Unlock()
		if path == "/mnt/backup" {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		return fakeUsage(path), nil
	})
	unstuck := make(chan string, 1)
	c.unstuck = func(path string) { unstuck <- path }

	// First scrape: end it once /home is reported and /mnt/backup hangs.
	metrics, err := scrapeUntilStuck(t, c, entered)
	if err == nil || !strings.Contains(err.Error(), "/mnt/backup") {
		t.Errorf("first scrape: got error %v, want one naming /mnt/backup", err)
	}
	assertCollected(t, metrics, "first scrape", sizeHeader+`klaxon_host_filesystem_size_bytes{device="/dev/nvme0n1p1",fstype="xfs",mountpoint="/home"} 5.36870912e+09
`, "klaxon_host_filesystem_size_bytes")

	// Second scrape: /mnt/backup is skipped and reported as a device error.
	metrics, err = scrape(t.Context(), c)
	if err != nil {
		t.Fatalf("second scrape: %v", err)
	}
	assertCollected(t, metrics, "second scrape", errorHeader+`klaxon_host_filesystem_device_error{device="/dev/nvme0n1p1",fstype="xfs",mountpoint="/home"} 0
klaxon_host_filesystem_device_error{device="nas:/export/backup",fstype="nfs4",mountpoint="/mnt/backup"} 1
`+sizeHeader+`klaxon_host_filesystem_size_bytes{device="/dev/nvme0n1p1",fstype="xfs",mountpoint="/home"} 5.36870912e+09
`, "klaxon_host_filesystem_device_error", "klaxon_host_filesystem_size_bytes")
	mu.Lock()
	if n := calls["/mnt/backup"]; n != 1 {
		t.Errorf("statfs(/mnt/backup) called %d times while stuck, want 1", n)
	}
	mu.Unlock()

	// The stuck call returns: the mount point is collected again.
	close(release)
	if got := <-unstuck; got != "/mnt/backup" {
		t.Fatalf("unstuck %q, want /mnt/backup", got)
	}
	metrics, err = scrape(t.Context(), c)
	if err != nil {
		t.Fatalf("third scrape: %v", err)
	}
	assertCollected(t, metrics, "third scrape", errorHeader+`klaxon_host_filesystem_device_error{device="/dev/nvme0n1p1",fstype="xfs",mountpoint="/home"} 0
klaxon_host_filesystem_device_error{device="nas:/export/backup",fstype="nfs4",mountpoint="/mnt/backup"} 0
`+sizeHeader+`klaxon_host_filesystem_size_bytes{device="/dev/nvme0n1p1",fstype="xfs",mountpoint="/home"} 5.36870912e+09
klaxon_host_filesystem_size_bytes{device="nas:/export/backup",fstype="nfs4",mountpoint="/mnt/backup"} 1.1811160064e+10
`, "klaxon_host_filesystem_device_error", "klaxon_host_filesystem_size_bytes")
}

// scrapeUntilStuck runs an Update whose context is cancelled once /home has
// been reported and the statfs of /mnt/backup has started.
func scrapeUntilStuck(t *testing.T, c *filesystemCollector, entered <-chan struct{}) ([]prometheus.Metric, error) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	ch := make(chan prometheus.Metric)
	done := make(chan error, 1)
	go func() {
		done <- c.Update(ctx, ch)
		close(ch)
	}()
	var out []prometheus.Metric
	for m := range ch {
		out = append(out, m)
		if mountPoint(t, m) == "/home" && ctx.Err() == nil {
			<-entered
			cancel(errors.New("scrape deadline reached"))
		}
	}
	return out, <-done
}

func mountPoint(t *testing.T, m prometheus.Metric) string {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	for _, l := range pb.GetLabel() {
		if l.GetName() == "mountpoint" {
			return l.GetValue()
		}
	}
	return ""
}

const (
	sizeHeader = `# HELP klaxon_host_filesystem_size_bytes Filesystem size, from statfs(2).
# TYPE klaxon_host_filesystem_size_bytes gauge
`
	errorHeader = `# HELP klaxon_host_filesystem_device_error 1 if statfs failed on the mount point or is still stuck since an earlier scrape, 0 otherwise.
# TYPE klaxon_host_filesystem_device_error gauge
`
)

// assertCollected compares the named metrics with want, in the text format.
func assertCollected(t *testing.T, metrics []prometheus.Metric, what, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(registry(t, metrics), strings.NewReader(want), names...); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

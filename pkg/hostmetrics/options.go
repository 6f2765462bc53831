package hostmetrics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/shirou/gopsutil/v4/common"

	"github.com/klaxonhq/klaxon/pkg/collector"
)

// Default exclusions. Filesystems: pseudo and read-only image filesystems,
// and mount points that belong to the kernel or to container runtimes (tmpfs
// is kept, as node_exporter keeps it). Disks: RAM disks, loop devices,
// floppies and partitions, whose I/O is already counted on their disk.
const (
	defaultMountPointsExclude = `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`
	defaultFSTypesExclude     = `^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|erofs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$`
	defaultDiskDeviceExclude  = `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`
)

// options holds every setting of the host collectors, so tests can build
// collectors without parsing flags. Empty exclusion patterns exclude nothing.
type options struct {
	procPath, sysPath, rootPath string

	mountPointsExclude string
	fsTypesExclude     string
	netdevExclude      string
	diskExclude        string
}

// defaultOptions returns the settings used when no flag is given.
func defaultOptions() options {
	return options{
		procPath:           "/proc",
		sysPath:            "/sys",
		rootPath:           "/",
		mountPointsExclude: defaultMountPointsExclude,
		fsTypesExclude:     defaultFSTypesExclude,
		diskExclude:        defaultDiskDeviceExclude,
	}
}

// flagOptions points at the values kingpin fills in when main parses
// kingpin.CommandLine; the factories read it when collectors are built.
var flagOptions = defaultOptions()

func init() {
	app := kingpin.CommandLine
	app.Flag("path.procfs", "procfs mount point.").
		Envar("HOST_PROC").Default(flagOptions.procPath).StringVar(&flagOptions.procPath)
	app.Flag("path.sysfs", "sysfs mount point.").
		Envar("HOST_SYS").Default(flagOptions.sysPath).StringVar(&flagOptions.sysPath)
	app.Flag("path.rootfs", "Host root filesystem mount point; mount points are reported relative to it.").
		Envar("HOST_ROOT").Default(flagOptions.rootPath).StringVar(&flagOptions.rootPath)
	app.Flag("collector.filesystem.mount-points-exclude", "Regexp of mount points the filesystem collector ignores.").
		Default(flagOptions.mountPointsExclude).StringVar(&flagOptions.mountPointsExclude)
	app.Flag("collector.filesystem.fs-types-exclude", "Regexp of filesystem types the filesystem collector ignores.").
		Default(flagOptions.fsTypesExclude).StringVar(&flagOptions.fsTypesExclude)
	app.Flag("collector.netdev.device-exclude", "Regexp of network interfaces the netdev collector ignores (empty: none).").
		Default(flagOptions.netdevExclude).StringVar(&flagOptions.netdevExclude)
	app.Flag("collector.diskstats.device-exclude", "Regexp of block devices the diskstats collector ignores (empty: none).").
		Default(flagOptions.diskExclude).StringVar(&flagOptions.diskExclude)
}

// paths is where the host's procfs, sysfs and root filesystem are seen from
// the exporter.
type paths struct {
	root string
	env  common.EnvMap
}

func newPaths(o options) paths {
	root := filepath.Clean(o.rootPath)
	return paths{
		root: root,
		env: common.EnvMap{
			common.HostProcEnvKey: o.procPath,
			common.HostSysEnvKey:  o.sysPath,
			common.HostRootEnvKey: root,
			common.HostDevEnvKey:  filepath.Join(root, "dev"),
			common.HostEtcEnvKey:  filepath.Join(root, "etc"),
			common.HostRunEnvKey:  filepath.Join(root, "run"),
			common.HostVarEnvKey:  filepath.Join(root, "var"),
		},
	}
}

// context returns ctx carrying the paths for gopsutil.
func (p paths) context(ctx context.Context) context.Context {
	return context.WithValue(ctx, common.EnvKey, p.env)
}

// procfs joins elem to the procfs path.
func (p paths) procfs(elem ...string) string {
	return filepath.Join(append([]string{p.env[common.HostProcEnvKey]}, elem...)...)
}

// sysfs joins elem to the sysfs path.
func (p paths) sysfs(elem ...string) string {
	return filepath.Join(append([]string{p.env[common.HostSysEnvKey]}, elem...)...)
}

// underRoot reports mountPoint relative to the root filesystem path, and
// whether it lies under it at all.
func (p paths) underRoot(mountPoint string) (string, bool) {
	if p.root == "/" {
		return mountPoint, true
	}
	rest, ok := strings.CutPrefix(mountPoint, p.root)
	switch {
	case !ok:
		return mountPoint, false
	case rest == "":
		return "/", true
	case rest[0] == '/':
		return rest, true
	default:
		return mountPoint, false
	}
}

// compileExclude compiles an exclusion pattern; an empty one gives nil,
// which excludes nothing.
func compileExclude(flag, pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid --%s: %w", flag, err)
	}
	return re, nil
}

// excluded reports whether re, which may be nil, matches s.
func excluded(re *regexp.Regexp, s string) bool {
	return re != nil && re.MatchString(s)
}

// noData marks an error caused by a missing source file as
// collector.ErrNoData, so the scrape does not count it as a failure.
func noData(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", collector.ErrNoData, err)
	}
	return err
}

// Package hostmetrics holds klaxon-exporter's host collectors: cpu, meminfo,
// filesystem, loadavg, netdev, diskstats and process. They read the host
// through gopsutil v4 at scrape time, publish const metrics under
// klaxon_host_*, and register themselves with pkg/collector from init(),
// which gives each one a --collector.<name> flag.
//
// The collectors read /proc, /sys and / from the paths set by
// --path.procfs, --path.sysfs and --path.rootfs (or HOST_PROC, HOST_SYS and
// HOST_ROOT), which are handed to gopsutil through its context EnvMap, so
// the exporter can watch the host from inside a container.
package hostmetrics

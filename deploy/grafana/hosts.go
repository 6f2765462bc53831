package grafana

//lint:file-ignore SA1019 Grafana imports and provisions dashboards of the classic JSON model (package dashboard); the SDK deprecates it for dashboardv2, which only Grafana 12 with its new dashboard API reads.

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// hostSelector picks the hosts of the dashboard's variables.
const hostSelector = `{job=~"$job",instance=~"$instance"}`

// hosts shows the host series of the source layer: klaxon-exporter's with
// klaxon.rules.yml, node_exporter's with node-exporter.rules.yml. Either
// records the same series, so the dashboard reads no raw host metric.
func hosts() *dashboard.DashboardBuilder {
	cpu := "instance:host_cpu:utilisation_ratio" + hostSelector
	memory := "instance:host_memory:utilisation_ratio" + hostSelector
	disk := "instance_mountpoint:host_filesystem:utilisation_ratio" + hostSelector
	return newDashboard("klaxon-hosts", "Klaxon / Hosts",
		"CPU, memory and disk of each host, from the series recorded by the source layer (klaxon-exporter or node_exporter).").
		WithVariable(variable("job", "job", "instance:host_cpu:utilisation_ratio")).
		WithVariable(variable("instance", "instance", `instance:host_cpu:utilisation_ratio{job=~"$job"}`)).
		WithRow(dashboard.NewRowBuilder("Now")).
		WithPanel(single("Busiest CPU", "The host with the highest CPU utilisation. Target under 70%; HighCPUUsage warns from 90%.",
			"percentunit", over(0.7, 0.9), instantQuery("max("+cpu+")", "CPU"))).
		WithPanel(single("Fullest memory", "The host with the highest memory utilisation. Target under 80%; HighMemoryUsage is critical from 90%.",
			"percentunit", over(0.8, 0.9), instantQuery("max("+memory+")", "memory"))).
		WithPanel(single("Fullest filesystem", "The fullest writable filesystem of all hosts. Target under 75%; HighDiskUsage is critical from 85%.",
			"percentunit", over(0.75, 0.85), instantQuery("max("+disk+")", "disk"))).
		WithPanel(single("Hosts", "Hosts that report CPU utilisation.",
			"short", nil, instantQuery("count("+cpu+")", "hosts"))).
		WithRow(dashboard.NewRowBuilder("Utilisation")).
		WithPanel(graph("CPU",
			"Share of CPU time spent neither idle nor waiting for I/O, over all CPUs, per host. Target under 70%; HighCPUUsage warns from 90%.",
			"percentunit", over(0.7, 0.9), rangeQuery(cpu, "{{instance}}"))).
		WithPanel(graph("Memory",
			"Memory the kernel could not hand to a new process without swapping, per host. Target under 80%; HighMemoryUsage is critical from 90%.",
			"percentunit", over(0.8, 0.9), rangeQuery(memory, "{{instance}}"))).
		WithPanel(graph("Disk",
			"Space an unprivileged writer can no longer use, per writable filesystem. Target under 75%; HighDiskUsage is critical from 85%.",
			"percentunit", over(0.75, 0.85), rangeQuery(disk, "{{instance}} {{mountpoint}}"))).
		WithPanel(listing("Filesystems",
			"Every writable filesystem the rules watch, with its use now.",
			instantQuery(disk, ""), "job").
			Unit("percentunit"))
}

// Command klaxon-exporter publishes host metrics and application probe
// results for Prometheus to scrape.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/klaxonhq/klaxon/pkg/collector"
	_ "github.com/klaxonhq/klaxon/pkg/hostmetrics" // registers the host collectors
	"github.com/klaxonhq/klaxon/pkg/probe"
	"github.com/klaxonhq/klaxon/pkg/reload"
	"github.com/klaxonhq/klaxon/pkg/server"
)

const name = "klaxon-exporter"

func main() { os.Exit(run()) }

func run() int {
	app := kingpin.CommandLine
	var (
		configFile = app.Flag("config.file",
			"Exporter config file listing application probes. Optional: host metrics need none.").String()
		configCheck = app.Flag("config.check",
			"Validate --config.file and exit.").Bool()
		metricsPath = app.Flag("web.telemetry-path",
			"Path under which to expose metrics.").Default("/metrics").String()
		timeoutOffset = app.Flag("scrape.timeout-offset",
			"Time taken off Prometheus's scrape timeout, to leave room to send the answer.").Default("500ms").Duration()
		maxProcs = app.Flag("runtime.gomaxprocs",
			"CPUs the Go runtime may use at once (GOMAXPROCS). Scrapes are small; one keeps memory low.").
			Envar("GOMAXPROCS").Default("1").Int()
		gcPercent = app.Flag("runtime.gc-percent",
			"Heap growth in percent that triggers a garbage collection (GOGC). Lower holds less memory for a little more CPU.").
			Envar("GOGC").Default("50").Int()
		toolkitFlags = kingpinflag.AddFlags(app, ":9847")
	)
	disableDefaults := collector.Default.AddFlags(app)
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)
	app.Version(version.Print(name))
	app.UsageWriter(os.Stdout)
	app.HelpFlag.Short('h')
	kingpin.Parse()
	logger := promslog.New(logConfig)
	probe.SetDriverLogger(logger)
	runtime.GOMAXPROCS(*maxProcs)
	debug.SetGCPercent(*gcPercent)

	load := func() (map[string]collector.Collector, error) { return loadProbes(*configFile, logger) }
	if *configCheck {
		return checkConfig(*configFile, load)
	}
	logger.Info("starting "+name, "version", version.Info())
	logger.Info("build context", "build_context", version.BuildContext())

	self := prometheus.NewRegistry()
	self.MustRegister(versioncollector.NewCollector("klaxon_exporter"))
	probes, err := reload.New(load, self, "exporter", logger)
	if err != nil {
		logger.Error("cannot load config", "err", err)
		return 1
	}
	host, err := collector.Default.Build(logger, *disableDefaults)
	if err != nil {
		logger.Error("cannot create collectors", "err", err)
		return 1
	}
	logger.Info("collectors enabled", "host", len(host), "probes", len(probes.Get()))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	probes.WatchSignals(ctx)

	hostSource := func() map[string]collector.Collector { return host }
	results := collector.NewResults()
	handler := collector.NewHandler(logger,
		collector.HandlerOpts{TimeoutOffset: *timeoutOffset, Self: self, Results: results},
		hostSource, probes.Get)
	landing := collector.NewLandingPage(logger, collector.LandingOpts{
		Name:        "Klaxon Exporter",
		Description: "Host metrics and application probes for Prometheus",
		Version:     version.Info(),
		MetricsPath: *metricsPath,
		DocsURL:     docsURL,
	}, results, hostSource, probes.Get)
	return serve(ctx, routes(*metricsPath, handler, landing, probes.Handler()), toolkitFlags, logger)
}

// docsURL is the exporter's documentation, linked from the landing page.
const docsURL = "https://github.com/klaxonhq/klaxon/blob/main/docs/exporter.md"

func loadProbes(configFile string, logger *slog.Logger) (map[string]collector.Collector, error) {
	if configFile == "" {
		return map[string]collector.Collector{}, nil
	}
	cfg, err := probe.LoadFile(configFile)
	if err != nil {
		return nil, err
	}
	return cfg.Collectors(logger)
}

func checkConfig(configFile string, load func() (map[string]collector.Collector, error)) int {
	if configFile == "" {
		fmt.Fprintln(os.Stderr, "--config.check needs --config.file")
		return 1
	}
	probes, err := load()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s: OK, %d probes\n", configFile, len(probes))
	return 0
}

// routes serves metrics at metricsPath and the landing page at / (unless
// the metrics are there).
func routes(metricsPath string, metrics, landing, reloadHandler http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(metricsPath, metrics)
	server.HandleHealth(mux, nil)
	mux.Handle("/-/reload", reloadHandler)
	if metricsPath != "/" {
		mux.Handle("/", landing)
	}
	return mux
}

// serve runs the exporter's server until ctx ends, with the timeouts both
// binaries share. Read and Write leave scrapes their whole announced
// scrape_timeout, which Prometheus does not bound: Read only bounds reading
// the request (net/http lifts the read deadline once it is read, and a scrape
// has no body), and /metrics replaces Write with its own write deadline at
// the announced timeout (collector.Handler), longer or shorter than Write, so
// a longer scrape is not cut at 2 minutes. The other pages are small and
// answered at once, well within Write.
func serve(ctx context.Context, mux http.Handler, flags *web.FlagConfig, logger *slog.Logger) int {
	if err := server.Run(ctx, mux, flags, server.DefaultTimeouts, logger); err != nil {
		logger.Error("exiting", "err", err)
		return 1
	}
	return 0
}

// Command klaxon-receiver takes Alertmanager's webhooks and pages people
// through its integrations (pkg/notify/integrations), from a durable
// outbox.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/klaxonhq/klaxon/pkg/api"
	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
	"github.com/klaxonhq/klaxon/pkg/receiver"
	"github.com/klaxonhq/klaxon/pkg/server"
	"github.com/klaxonhq/klaxon/receiver/client"
	"github.com/klaxonhq/klaxon/runbooks"
)

const name = "klaxon-receiver"

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	app := kingpin.New(name, "Takes Alertmanager webhooks and pages people through "+integrations.OneOf(integrations.Names())+", from a durable outbox.")
	configFile := app.Flag("config.file", "Receiver config file; without it, a built-in config: routes critical and warning record incidents, heartbeat does not, and PAGERDUTY_INTEGRATION_KEY, OPSGENIE_API_KEY, SLACK_WEBHOOK_URL and DISCORD_WEBHOOK_URL, when set, add their channels.").String()
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)
	app.Version(version.Print(name))
	app.UsageWriter(os.Stdout)
	app.HelpFlag.Short('h')

	serve := app.Command("serve", "Run the receiver (the default).").Default()
	toolkitFlags := kingpinflag.AddFlags(serve, ":9848")
	app.Command("check-config", "Validate the config file, build every channel, check that every *_file can be read, and exit.")
	sendTest := app.Command("send-test", "Send a test message through one channel now; exit 3 when its upstream cannot be reached, 4 when it refuses.")
	testChannel := sendTest.Flag("channel", "The channel's name.").Required().String()
	dead := app.Command("dead-letters", "List or retry deliveries that were given up.")
	dead.Command("list", "List dead letters.").Default()
	retry := dead.Command("retry", "Queue dead letters for delivery again.")
	retryIDs := retry.Arg("id", "Dead letters to retry; none means all.").Int64List()
	onCall := app.Command("oncall", "Show who is on call per schedule and the next handoffs.")
	onCallAt := onCall.Flag("at", "The time to ask about, RFC 3339 (default now).").String()
	onCallSchedule := onCall.Flag("schedule", "Show only this schedule.").String()
	simulate := app.Command("simulate", "Print the escalation timeline the config produces for an alert payload, sending nothing.")
	simAlert := simulate.Flag("alert", "An Alertmanager webhook payload (JSON), firing.").Required().String()
	simRoute := simulate.Flag("route", "The route the payload arrives on (default: the only route with an escalation_policy).").String()
	simAt := simulate.Flag("at", "When the incident starts, RFC 3339 (default now).").String()
	simUntil := simulate.Flag("until", "How long after the start to simulate.").Default(DefaultSimulateUntil.String()).Duration()
	incidents := app.Command("incidents", "List the open incidents of a running receiver.")
	incidentsClient := clientFlags(incidents)
	ack := app.Command("ack", "Acknowledge an incident of a running receiver: its escalation stops.")
	ackID := ack.Arg("id", "The incident's ID as the incidents command lists it: its first 8 characters or more.").Required().String()
	ackBy := ack.Flag("by", "Who acknowledges.").Required().String()
	ackClient := clientFlags(ack)
	resolve := app.Command("resolve", "End an incident's escalation on a running receiver; Alertmanager's alerts are unchanged.")
	resolveID := resolve.Arg("id", "The incident's ID as the incidents command lists it: its first 8 characters or more.").Required().String()
	resolveClient := clientFlags(resolve)

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	logger := promslog.New(logConfig)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "check-config":
		err = CheckConfig(*configFile, os.Stdout, logger)
	case "send-test":
		err = SendTest(ctx, *configFile, *testChannel, os.Stdout, logger)
	case "dead-letters list":
		err = ListDeadLetters(ctx, *configFile, os.Stdout)
	case "dead-letters retry":
		err = RetryDeadLetters(ctx, *configFile, *retryIDs, os.Stdout)
	case "oncall":
		err = showOnCall(*configFile, *onCallAt, *onCallSchedule, logger)
	case "incidents":
		err = incidentsClient.ShowIncidents(ctx, os.Stdout)
	case "ack":
		err = ackClient.Acknowledge(ctx, *ackID, *ackBy, os.Stdout)
	case "resolve":
		err = resolveClient.Resolve(ctx, *resolveID, os.Stdout)
	case "simulate":
		err = simulateAlert(*configFile, SimulateOptions{Alert: *simAlert, Route: *simRoute, Until: *simUntil}, *simAt, logger)
	default:
		err = runServer(ctx, *configFile, toolkitFlags, logger)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return exitCode(err)
	}
	return 0
}

// Exit statuses besides 0 (done), 1 (failed) and 2 (bad usage).
const (
	// exitUnreachable: send-test could not reach the channel's upstream.
	exitUnreachable = 3
	// exitRefused: the channel's upstream refused the test message.
	exitRefused = 4
)

func exitCode(err error) int {
	switch {
	case errors.Is(err, ErrUnreachable):
		return exitUnreachable
	case errors.Is(err, ErrRefused):
		return exitRefused
	}
	return 1
}

// clientFlags adds the flags that find a running receiver to cmd.
func clientFlags(cmd *kingpin.CmdClause) *client.Client {
	c := &client.Client{}
	cmd.Flag("receiver.url", "The running receiver's URL.").Default(client.DefaultURL).StringVar(&c.URL)
	cmd.Flag("receiver.bearer-token-file", "File holding the receiver's bearer token (global.bearer_token).").StringVar(&c.BearerTokenFile)
	return c
}

func showOnCall(configFile, at, schedule string, logger *slog.Logger) error {
	t, err := api.ParseTime(at, time.Now())
	if err != nil {
		return fmt.Errorf("--at: %w", err)
	}
	return ShowOnCall(configFile, t, schedule, os.Stdout, logger)
}

func simulateAlert(configFile string, opts SimulateOptions, at string, logger *slog.Logger) error {
	t, err := api.ParseTime(at, time.Now())
	if err != nil {
		return fmt.Errorf("--at: %w", err)
	}
	opts.Start = t
	return Simulate(configFile, opts, os.Stdout, logger)
}

func runServer(ctx context.Context, configFile string, flags *web.FlagConfig, logger *slog.Logger) error {
	logger.Info("starting "+name, "version", version.Info(), "build_context", version.BuildContext())
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("klaxon_receiver"),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	svc, err := receiver.NewService(ctx, receiver.Options{ConfigFile: configFile, Runbooks: runbooks.FS, Registerer: reg, Logger: logger})
	if err != nil {
		return err
	}
	defer svc.Close()
	svc.Config.WatchSignals(ctx)

	mux := http.NewServeMux()
	if err := svc.Handler(mux); err != nil {
		return err
	}
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	server.HandleHealth(mux, svc.Ready)

	// The workers stop, and are waited for, on every way out, before the
	// deferred Close of the store: a worker must not lose its store while
	// it records a delivery. A store that fails to open for good, after it
	// was unavailable at start, stops the server with its error.
	serveCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	workCtx, stopWork := context.WithCancel(ctx)
	worked := make(chan struct{})
	go func() {
		defer close(worked)
		if err := svc.Run(workCtx); err != nil {
			fail(err)
		}
	}()
	defer func() { stopWork(); <-worked }()

	if err := server.Run(serveCtx, mux, flags, server.DefaultTimeouts, logger); err != nil {
		return err
	}
	if ctx.Err() == nil {
		return context.Cause(serveCtx)
	}
	return nil
}

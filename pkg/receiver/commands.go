package receiver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// CheckConfig loads and builds a config file and says what it holds.
func CheckConfig(path string, out io.Writer, logger *slog.Logger) error {
	rt, err := Load(path, logger)
	if err != nil {
		return err
	}
	c := rt.Config
	name := path
	if name == "" {
		name = "built-in config"
	}
	fmt.Fprintf(out, "%s: OK, %d channels, %d routes\n", name, len(c.Channels), len(c.Routes))
	for _, r := range c.Routes {
		fmt.Fprintf(out, "  /webhook/%s -> %v\n", r.Name, r.Channels)
	}
	return nil
}

// SendTest sends a test message through one channel, now, bypassing the
// store: it answers "alerts are not arriving" by showing whether the
// channel's upstream takes a message.
func SendTest(ctx context.Context, path, channel string, out io.Writer, logger *slog.Logger) error {
	rt, err := Load(path, logger)
	if err != nil {
		return err
	}
	ch, ok := rt.Channels[channel]
	if !ok {
		names := make([]string, 0, len(rt.Channels))
		for n := range rt.Channels {
			names = append(names, n)
		}
		slices.Sort(names)
		return fmt.Errorf("no channel %q in the config (channels: %v)", channel, names)
	}
	n := testNotification(channel, time.Now())
	rt.Runbooks.ResolveMessage(n.Message)
	if err := ch.Notifier.Notify(ctx, n); err != nil {
		retry, _, reason := notify.Classify(err)
		return fmt.Errorf("channel %q (%s) refused the test message (%s, retryable: %t): %w", channel, ch.Kind, reason, retry, err)
	}
	fmt.Fprintf(out, "test message delivered to channel %q (%s)\n", channel, ch.Kind)
	return nil
}

func testNotification(channel string, now time.Time) *notify.Notification {
	labels := map[string]string{"alertname": "KlaxonTest", "severity": "info"}
	msg := &alert.Message{
		Version: "4", GroupKey: "{}:{alertname=\"KlaxonTest\"}", Status: alert.StatusFiring,
		Receiver: "klaxon-receiver", GroupLabels: map[string]string{"alertname": "KlaxonTest"},
		CommonLabels: labels, CommonAnnotations: map[string]string{},
		Alerts: []alert.Alert{{
			Status: alert.StatusFiring, Labels: labels, StartsAt: now, Fingerprint: "0000000000000000",
			Annotations: map[string]string{
				"summary":     "Test message from klaxon-receiver send-test",
				"description": "If you read this, channel " + channel + " delivers. Nothing is wrong.",
			},
		}},
	}
	return &notify.Notification{
		Channel: channel, Route: "send-test", Kind: notify.KindTest, Message: msg, CreatedAt: now,
		IncidentKey: alert.IncidentKey("send-test", msg.GroupKey),
	}
}

// ListDeadLetters prints the dead letters of the store the config names.
func ListDeadLetters(ctx context.Context, path string, out io.Writer) error {
	cfg, err := readConfig(path)
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, cfg.Storage.Path, sqlite.Options{})
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer st.Close()
	dead, err := st.DeadLetters(ctx)
	if err != nil {
		return err
	}
	if len(dead) == 0 {
		fmt.Fprintln(out, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHANNEL\tROUTE\tKIND\tACCEPTED\tATTEMPTS\tLAST ERROR")
	for _, d := range dead {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, d.Channel, d.Route, d.Kind,
			d.CreatedAt.UTC().Format(time.RFC3339), d.Attempts, d.LastError)
	}
	return tw.Flush()
}

// RetryDeadLetters makes dead letters pending again: the given ids, or all.
// A running receiver delivers them within its poll interval.
func RetryDeadLetters(ctx context.Context, path string, ids []int64, out io.Writer) error {
	cfg, err := readConfig(path)
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, cfg.Storage.Path, sqlite.Options{})
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer st.Close()
	n, err := st.Requeue(ctx, time.Now(), ids...)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d dead letters queued for delivery again\n", n)
	return nil
}

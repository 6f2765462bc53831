package webhook_test

import (
	"context"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/integrations"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
	"github.com/klaxonhq/klaxon/pkg/notify/webhook/webhooktest"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// TestRegistered: a channel with a webhook key is read and built through
// the registry, with its configured limit, and adds no built-in channel.
func TestRegistered(t *testing.T) {
	srv := webhooktest.NewServer(webhooktest.Expect{Method: "POST", Path: "/hook", ContentType: "application/json"})
	t.Cleanup(srv.Close)
	var cfg struct {
		Channels []integrations.Channel `yaml:"channels"`
	}
	in := "channels:\n  - name: hook\n    webhook:\n      url: " + srv.URL() + "/hook\n      limit: {every: 10s, burst: 2}\n"
	if err := yamlconf.Decode("receiver.yml", []byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(in), &root); err != nil {
		t.Fatal(err)
	}
	ch := cfg.Channels[0]
	if err := ch.Check(root.Content[0].Content[1].Content[0]); err != nil {
		t.Fatal(err)
	}
	n, limit, err := ch.Notifier(notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Integration != "webhook" || limit != (notify.Limit{Every: 10 * time.Second, Burst: 2}) {
		t.Errorf("channel of %q with limit %+v, want webhook's, every 10s in bursts of 2", ch.Integration, limit)
	}
	err = n.Notify(context.Background(), &notify.Notification{Channel: "hook", Route: "ops", Kind: notify.KindTrigger, Message: notifytest.FiringTwo()})
	if err != nil || len(srv.Received()) != 1 {
		t.Errorf("Notify() = %v with %d requests, want one accepted", err, len(srv.Received()))
	}
	for _, b := range integrations.BuiltInChannels() {
		if b.Name == "webhook" {
			t.Errorf("the webhook has a built-in channel: %+v", b)
		}
	}
}

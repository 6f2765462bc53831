package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/notify/discord/discordtest"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
)

// TestSecretsFromEnvironment runs the receiver with no config and the
// secret variables of the original spec set: SLACK_WEBHOOK_URL and
// DISCORD_WEBHOOK_URL point at fakes, so the sample webhook on critical
// and a warning reach both, and nothing prints the secrets. PagerDuty and
// Opsgenie have fixed public endpoints, so their variables are checked by
// check-config, which builds their channels and sends nothing.
func TestSecretsFromEnvironment(t *testing.T) {
	for _, name := range builtInSecrets {
		t.Setenv(name, "")
	}
	bin := testenv.Binary(t, "klaxon-receiver")
	slack, discord := slacktest.NewServer(), discordtest.NewServer()
	defer slack.Close()
	defer discord.Close()
	slackURL := slack.NewWebhook()
	discordURL := discord.AddWebhook("112233445566778899", "discord-env-s3cret")
	secrets := []string{strings.TrimPrefix(slackURL, slack.URL()+"/services/"), "discord-env-s3cret",
		"pd-env-s3cret-0123456789abcdef", "opsgenie-env-s3cret"}

	t.Run("check-config", func(t *testing.T) {
		t.Setenv("PAGERDUTY_INTEGRATION_KEY", secrets[2])
		t.Setenv("OPSGENIE_API_KEY", secrets[3])
		t.Setenv("SLACK_WEBHOOK_URL", slackURL)
		t.Setenv("DISCORD_WEBHOOK_URL", discordURL)
		stdout, stderr, code := runCommand(t, bin, "check-config")
		want := "built-in config: OK, 4 channels, 3 routes\n" +
			"  /webhook/critical -> [pagerduty opsgenie slack discord], escalation policy default\n" +
			"  /webhook/warning -> [slack discord], escalation policy default\n" +
			"  /webhook/heartbeat -> []\n"
		if code != 0 || !strings.HasPrefix(stdout, want) {
			t.Errorf("check-config: exit %d, stderr %q, stdout:\n%s\nwant it to start:\n%s", code, stderr, stdout, want)
		}
		assertNoSecrets(t, stdout+stderr, secrets)
	})

	t.Run("bad variable", func(t *testing.T) {
		t.Setenv("SLACK_WEBHOOK_URL", "hooks.slack.com/services/T0/B0/bad-env-s3cret")
		_, stderr, code := runCommand(t, bin, "check-config")
		want := "klaxon-receiver: built-in config: SLACK_WEBHOOK_URL: webhook_url: must be an http or https URL\n"
		if code != 1 || stderr != want {
			t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
		}
	})

	t.Run("pages", func(t *testing.T) {
		t.Setenv("SLACK_WEBHOOK_URL", slackURL)
		t.Setenv("DISCORD_WEBHOOK_URL", discordURL)
		dir, addr := t.TempDir(), testenv.FreeAddr(t)
		p := testenv.StartProcess(t, dir, bin, "--web.listen-address="+addr)
		p.WaitReady(t, "http://"+addr+"/-/ready", startTimeout)
		sample := sample(t)
		// One at a time: the chat channels would merge messages that
		// wait together into one digest.
		for i, route := range []string{"critical", "warning"} {
			if code, body, err := httpDo(t.Context(), http.MethodPost, "http://"+addr+"/webhook/"+route, sample); err != nil || code != http.StatusOK {
				t.Fatalf("POST /webhook/%s: %d %s %v", route, code, body, err)
			}
			testenv.Eventually(t, deliveryTimeout, func() error {
				if s, d := len(slack.Received()), len(discord.Received()); s != i+1 || d != i+1 {
					return fmt.Errorf("after %s, Slack has %d messages, Discord %d; want %d each", route, s, d, i+1)
				}
				return nil
			})
		}
		if got := slack.Received()[0].Message.Attachments[0].Title; !strings.Contains(got, "HighErrorRate") {
			t.Errorf("Slack's message is titled %q, want the sample's HighErrorRate", got)
		}
		_, metrics, err := httpDo(t.Context(), http.MethodGet, "http://"+addr+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		page := statusPage(t, addr)
		assertNoSecrets(t, p.Output()+metrics+page, secrets)
	})

	// Slack refuses the page for good: the failure is logged, dead-lettered
	// with Slack's reason and counted, and none of them names the URL's
	// secret path.
	t.Run("refused", func(t *testing.T) {
		t.Setenv("SLACK_WEBHOOK_URL", slackURL)
		dir, addr := t.TempDir(), testenv.FreeAddr(t)
		p := testenv.StartProcess(t, dir, bin, "--web.listen-address="+addr)
		p.WaitReady(t, "http://"+addr+"/-/ready", startTimeout)
		slack.FailNext(1, fakeapi.Fault{Status: http.StatusForbidden, Body: "invalid_token"})
		if code, body, err := httpDo(t.Context(), http.MethodPost, "http://"+addr+"/webhook/critical", sample(t)); err != nil || code != http.StatusOK {
			t.Fatalf("POST /webhook/critical: %d %s %v", code, body, err)
		}
		var metrics string
		testenv.Eventually(t, deliveryTimeout, func() error {
			_, m, err := httpDo(t.Context(), http.MethodGet, "http://"+addr+"/metrics", nil)
			if err != nil {
				return err
			}
			if metrics = string(m); !strings.Contains(metrics, `klaxon_receiver_dead_letters{channel="slack"} 1`) {
				return fmt.Errorf("no dead letter for slack yet")
			}
			return nil
		})
		cmd := exec.CommandContext(t.Context(), bin, "dead-letters")
		cmd.Dir = dir
		listed, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(listed), "invalid_token") {
			t.Errorf("dead-letters: %v; want Slack's reason in:\n%s", err, listed)
		}
		if !strings.Contains(p.Output(), "invalid_token") {
			t.Errorf("the log does not report Slack's refusal:\n%s", p.Output())
		}
		assertNoSecrets(t, p.Output()+metrics+string(listed)+statusPage(t, addr), secrets)
	})
}

func sample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "pkg", "alert", "testdata", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
